#include "ui/common/format.h"

#include <algorithm>
#include <cmath>

#include <QCoreApplication>
#include <QTextDocument>

namespace ps::ui {

QString plainToolTip(const QString& text) {
    return text.isEmpty() ? text : Qt::convertFromPlainText(text, Qt::WhiteSpaceNormal);
}

QString formatDuration(double seconds) {
    if (!(seconds >= 0.0) || !std::isfinite(seconds)) return QStringLiteral("–");
    if (seconds < 60.0) return QStringLiteral("%1 s").arg(int(std::round(seconds)));
    const long total = std::lround(seconds);
    const long h = total / 3600, m = (total % 3600) / 60, s = total % 60;
    if (h > 0)
        return QStringLiteral("%1:%2:%3").arg(h).arg(m, 2, 10, QChar('0')).arg(s, 2, 10, QChar('0'));
    return QStringLiteral("%1:%2").arg(m).arg(s, 2, 10, QChar('0'));
}

QString formatMetric(double value) { return formatNumber(value); }

double metricValue(const nlohmann::json& metrics, const char* name) {
    if (metrics.is_object()) {
        auto it = metrics.find(name);
        if (it != metrics.end() && it->is_number()) return it->get<double>();
    }
    return std::nan("");
}

QString phaseLabel(const QString& phase) {
    auto tr = [](const char* text) { return QCoreApplication::translate("ps::ui::phase", text); };
    if (phase == QLatin1String("prepare")) return tr("Preparing data and model");
    if (phase == QLatin1String("sft")) return tr("SFT warm-up");
    if (phase == QLatin1String("reference")) return tr("Reference log-probs");
    if (phase == QLatin1String("train")) return tr("Training");
    if (phase == QLatin1String("eval")) return tr("Evaluating");
    if (phase == QLatin1String("done")) return tr("Done");
    return phase;
}


QString formatCount(double count) {
    if (count >= 1e9) return QString::number(count / 1e9, 'f', 2) + QStringLiteral("B");
    if (count >= 1e6) return QString::number(count / 1e6, 'f', 1) + QStringLiteral("M");
    if (count >= 1e3) return QString::number(count / 1e3, 'f', 1) + QStringLiteral("k");
    return QString::number(count, 'f', 0);
}

QString formatBytes(double bytes) {
    if (bytes >= 1e9) return QString::number(bytes / 1e9, 'f', 1) + QStringLiteral(" GB");
    if (bytes >= 1e6) return QString::number(bytes / 1e6, 'f', 1) + QStringLiteral(" MB");
    if (bytes >= 1e3) return QString::number(bytes / 1e3, 'f', 1) + QStringLiteral(" kB");
    return QString::number(bytes, 'f', 0) + QStringLiteral(" B");
}

QString displayUtf8(const std::string& bytes) {
    std::string out;
    out.reserve(bytes.size());
    const size_t n = bytes.size();
    for (size_t i = 0; i < n;) {
        const auto b = static_cast<unsigned char>(bytes[i]);
        // The length a lead byte announces (RFC 3629: at most 4, no overlong 0xC0/0xC1, <= U+10FFFF).
        const size_t len = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3
                                      : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
        size_t good = len > 0 ? 1 : 0;
        while (good > 0 && good < len && i + good < n) {
            const auto c = static_cast<unsigned char>(bytes[i + good]);
            // The second byte's range excludes overlong forms, surrogates and values past U+10FFFF.
            const unsigned char lo = good == 1 && b == 0xE0 ? 0xA0 : good == 1 && b == 0xF0 ? 0x90 : 0x80;
            const unsigned char hi = good == 1 && b == 0xED ? 0x9F : good == 1 && b == 0xF4 ? 0x8F : 0xBF;
            if (c < lo || c > hi) break;
            ++good;
        }
        if (len > 0 && good == len) {
            out.append(bytes, i, len);
            i += len;
        } else if (len > 0 && i + good == n) {
            break;  // a character cut by the end of the text: drop its first bytes
        } else {
            static const char* hex = "0123456789ABCDEF";
            out += "\\x";
            out += hex[b >> 4];
            out += hex[b & 15];
            ++i;
        }
    }
    // A tokenizer that decodes a cut character itself leaves U+FFFD at the end: drop it too.
    static const std::string kReplacement = "\xEF\xBF\xBD";
    while (out.size() >= 3 && out.compare(out.size() - 3, 3, kReplacement) == 0) out.resize(out.size() - 3);
    return QString::fromStdString(out);
}

}  // namespace ps::ui

namespace ps::ui {

QString formatNumber(double value, double scale) {
    if (!std::isfinite(value)) return QString();
    const double a = std::abs(value);
    if (a == 0.0 || (std::isfinite(scale) && a < std::abs(scale) * 1e-6)) return QStringLiteral("0");
    const int exponent = int(std::floor(std::log10(a)));
    if (a >= 1e-3 && a < 1e6) {
        const int decimals = std::max(0, 3 - exponent);
        QString text = QString::number(value, 'f', decimals);
        if (text.contains(QLatin1Char('.'))) {
            while (text.endsWith(QLatin1Char('0'))) text.chop(1);
            if (text.endsWith(QLatin1Char('.'))) text.chop(1);
        }
        return text == QLatin1String("-0") ? QStringLiteral("0") : text;
    }
    // "5.20e-07" -> "5.2e-7": mantissa without trailing zeros, exponent without padding.
    QString text = QString::number(value, 'e', 3);
    const int e = int(text.indexOf(QLatin1Char('e')));
    QString mantissa = text.left(e);
    while (mantissa.endsWith(QLatin1Char('0'))) mantissa.chop(1);
    if (mantissa.endsWith(QLatin1Char('.'))) mantissa.chop(1);
    const int exp = text.mid(e + 1).toInt();
    return mantissa + QStringLiteral("e") + QString::number(exp);
}

}  // namespace ps::ui
