// Our engine against transformers and peft themselves (the oracle venv, packaging/make-venv.sh),
// on the CPU:
//  * logits and completion log-probs of tiny random llama, mistral, qwen2, qwen3 and Gemma 3
//    checkpoints (gemma3: Gemma3ForCausalLM; gemma3_vision: Gemma3ForConditionalGeneration, of
//    which we load the language model) that transformers makes at test time
//    (tests/oracles/models_oracle.py: from_config with a fixed seed, save_pretrained into a temp
//    dir), against transformers' own model classes on that checkpoint: float32 within 1e-5;
//    bfloat16 within a tolerance derived from transformers' own bfloat16 error on the same input;
//  * greedy generation through our KV cache equals transformers' generate (two left-padded
//    prompts, past the sliding window where the model has one), and the window is what makes it so;
//  * the model we save (config.json + weights) is rebuilt by transformers with the same logits;
//  * a LoRA adapter we save loads in peft with our outputs, and our merge equals peft's
//    merge_and_unload (tests/oracles/lora_oracle.py).
// Every case also checks that it can fail: one perturbed weight moves our logits far past the
// tolerance. Without the venv the cases skip with the reason; under CI=true they fail.
#include <QtTest>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>

#include "core/model/generation.h"
#include "core/model/hf_config.h"
#include "core/model/lora.h"
#include "core/model/model_io.h"
#include "core/objectives/logprobs.h"
#include "tests/common/oracle.h"

using nlohmann::json;

namespace {

QString oracle_script(const char* name) {
    return qEnvironmentVariable("PREFSTUDIO_SOURCE_DIR") + "/tests/oracles/" + name;
}

// Runs an oracle script with the venv's Python; its output goes to the test log.
bool run_oracle(const QStringList& args, QString* why) {
    QProcess p;
    p.setProcessChannelMode(QProcess::MergedChannels);
    p.start(ps::test::oracle_python(), args);
    const bool finished = p.waitForFinished(600000);
    const QString out = QString::fromUtf8(p.readAll()).trimmed();
    if (!out.isEmpty()) qInfo("%s", qPrintable(out));
    if (!finished || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
        *why = QString("%1 failed (exit %2): %3").arg(args.join(' ')).arg(p.exitCode()).arg(out.right(2000));
        return false;
    }
    return true;
}

// A nested JSON array of numbers as a tensor of its shape.
torch::Tensor tensor_of(const json& j, torch::Dtype dtype = torch::kFloat64) {
    std::vector<int64_t> shape;
    for (const json* at = &j; at->is_array(); at = &(*at)[0]) shape.push_back(static_cast<int64_t>(at->size()));
    std::vector<double> flat;
    std::function<void(const json&)> walk = [&](const json& x) {
        if (x.is_array())
            for (const auto& e : x) walk(e);
        else
            flat.push_back(x.get<double>());
    };
    walk(j);
    return torch::tensor(flat, torch::kFloat64).view(shape).to(dtype);
}

json json_of(const torch::Tensor& t) {
    if (t.dim() == 0) return t.item<double>();
    json out = json::array();
    for (int64_t i = 0; i < t.size(0); ++i) out.push_back(json_of(t[i]));
    return out;
}

// Max |a - b| over the positions that are not padding (valid [B, T]): transformers masks the
// padded keys, we rely on right padding and causality, so only padded queries may differ.
double max_diff(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& valid) {
    auto d = (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs();
    if (d.dim() == 3) d = std::get<0>(d.max(-1));
    return (d * valid.to(torch::kFloat64)).max().item<double>();
}

torch::Tensor logits_of(ps::CausalLM& m, const torch::Tensor& ids) {
    torch::NoGradGuard g;
    m->eval();
    return m->forward(ids).to(torch::kFloat32);
}

struct Oracle {
    QTemporaryDir dir;
    json ref;
    torch::Tensor ids, mask, valid;
    std::string model_dir() const { return dir.filePath("model").toStdString(); }
};

// transformers makes the checkpoint and its reference outputs.
bool make_reference(const QString& kind, Oracle& o, QString* why) {
    if (!o.dir.isValid()) {
        *why = "no temp dir";
        return false;
    }
    if (!run_oracle({oracle_script("models_oracle.py"), kind, o.dir.path()}, why)) return false;
    o.ref = ps::read_json_file(o.dir.filePath("reference.json").toStdString());
    o.ids = tensor_of(o.ref["input_ids"], torch::kLong);
    o.mask = tensor_of(o.ref["completion_mask"], torch::kLong);
    o.valid = tensor_of(o.ref["attention_mask"], torch::kLong);
    return true;
}

// One weight of the last layer's attention output, nudged: the comparison must notice it.
void perturb_one_weight(ps::CausalLM& m) {
    torch::NoGradGuard g;
    for (auto& p : m->named_parameters())
        if (p.key().find("layers.1.self_attn.o_proj.weight") != std::string::npos) {
            p.value()[0][0].add_(0.05);
            return;
        }
    QFAIL("no layers.1.self_attn.o_proj.weight to perturb");
}

std::vector<std::vector<int64_t>> token_rows(const json& j) {
    std::vector<std::vector<int64_t>> out;
    for (const auto& row : j) out.push_back(row.get<std::vector<int64_t>>());
    return out;
}

std::vector<std::vector<int64_t>> greedy(ps::CausalLM& m, const std::vector<std::vector<int64_t>>& prompts,
                                         int new_tokens) {
    ps::GenerationOptions g;
    g.max_new_tokens = new_tokens;
    g.temperature = 0.0;
    std::vector<std::vector<int64_t>> out;
    for (const auto& seq : ps::generate_tokens(m, prompts, g)) out.push_back(seq.tokens);
    return out;
}

// A copy of the checkpoint whose config.json widens the sliding window past every sequence
// (the weights are linked, not copied).
std::string without_window(const Oracle& o, const std::string& kind) {
    const QString dir = o.dir.filePath("no_window");
    QDir().mkpath(dir);
    json cfg = ps::read_json_file(o.model_dir() + "/config.json");
    (kind == "gemma3_vision" ? cfg["text_config"] : cfg)["sliding_window"] = 1000;
    std::ofstream(dir.toStdString() + "/config.json") << cfg.dump();
    QFile::link(QString::fromStdString(o.model_dir() + "/model.safetensors"), dir + "/model.safetensors");
    return dir.toStdString();
}

}  // namespace

class TestOracleModels : public QObject {
    Q_OBJECT

private slots:
    void logitsAndLogpsMatchTransformers_data() {
        QTest::addColumn<QString>("kind");
        for (const char* k : {"llama", "mistral", "qwen2", "qwen3", "gemma3", "gemma3_vision"})
            QTest::newRow(k) << QString(k);
    }
    void logitsAndLogpsMatchTransformers() {
        QFETCH(QString, kind);
        PS_REQUIRE_ORACLE("torch", "transformers");
        Oracle o;
        QString why;
        QVERIFY2(make_reference(kind, o, &why), qPrintable(why));
        const double tol = 1e-5;

        // float32: logits, and the completion log-prob sums our objectives use.
        auto m = ps::load_hf_model(o.model_dir(), torch::kFloat32);
        const auto logits = logits_of(m, o.ids);
        const auto want = tensor_of(o.ref["logits_float32"]);
        const double err = max_diff(logits, want, o.valid);
        const auto lp = ps::completion_logps(logits, o.ids, o.mask);
        const auto want_seq = tensor_of(o.ref["seq_logps_float32"]);
        const double err_seq = (lp.sum.to(torch::kFloat64) - want_seq).abs().max().item<double>();
        qInfo("%s float32: max |logit difference| %.3g (max |logit| %.3g), max |sequence log-prob difference| %.3g",
              qPrintable(kind), err, want.abs().max().item<double>(), err_seq);
        QVERIFY2(err <= tol, qPrintable(QString("logits differ by %1 > %2").arg(err).arg(tol)));
        QVERIFY2(err_seq <= tol, qPrintable(QString("sequence log-probs differ by %1 > %2").arg(err_seq).arg(tol)));
        QVERIFY(torch::equal(lp.tokens.to(torch::kLong), o.mask.sum(1)));
        // Per token, too (log p(t | prefix) at every completion position).
        {
            auto token = torch::log_softmax(logits.slice(1, 0, -1), -1).gather(-1, o.ids.slice(1, 1).unsqueeze(-1)).squeeze(-1);
            auto want_token = tensor_of(o.ref["token_logps_float32"]).slice(1, 1);
            const double e = max_diff(token, want_token, o.mask.slice(1, 1));
            QVERIFY2(e <= tol, qPrintable(QString("token log-probs differ by %1").arg(e)));
        }

        // Greedy generation through the KV cache, token for token as transformers' generate (its
        // own cache; sliding-window layers included). Where the model has a window, generation
        // runs past it, and the same weights without the window generate something else: the
        // window is applied, and the match is not a coincidence of the first few tokens.
        {
            const auto prompts = token_rows(o.ref["generate_prompts"]);
            const auto want_tokens = token_rows(o.ref["generate_tokens"]);
            const int n = static_cast<int>(want_tokens[0].size());
            const auto got = greedy(m, prompts, n);
            for (size_t i = 0; i < got.size(); ++i)
                QVERIFY2(got[i] == want_tokens[i], qPrintable(QString("row %1: greedy tokens differ from transformers' "
                                                                     "generate").arg(i)));
            if (kind == "mistral" || kind.startsWith("gemma3")) {
                QVERIFY(int64_t(prompts[0].size()) + n > 2 * m->shape().sliding_window);
                auto wide = ps::load_hf_model(without_window(o, kind.toStdString()), torch::kFloat32);
                QVERIFY2(greedy(wide, prompts, n) != want_tokens, "without the sliding window the tokens are the same");
            }
        }

        // What we save, transformers rebuilds: same logits from our config.json and weights.
        // (gemma3_vision is saved as the text-only gemma3_text.)
        ps::SaveOptions save;
        save.original_config = ps::read_json_file(o.model_dir() + "/config.json");
        ps::save_hf_model(m, o.dir.filePath("saved").toStdString(), save);
        QVERIFY2(run_oracle({oracle_script("models_oracle.py"), "--reload", o.dir.filePath("saved"), o.dir.path()}, &why),
                 qPrintable(why));

        // The comparison can fail: one weight off by 0.05 moves the logits far past 1e-5.
        perturb_one_weight(m);
        const double broken = max_diff(logits_of(m, o.ids), want, o.valid);
        QVERIFY2(broken > 100 * tol, qPrintable(QString("a perturbed weight moved the logits by only %1").arg(broken)));

        // bfloat16. Both engines round every weight and most activations to 8 significant bits,
        // in different places and orders, so neither equals the float32 result; the size of that
        // error is measured, not guessed: e_hf = max |transformers bf16 - transformers f32| on this
        // input. Our bf16 logits must lie within 4 e_hf of transformers' bf16 ones and of the
        // float32 truth (equal-sized independent errors give at most 2 e_hf between the two
        // engines; 4 leaves room for where the max lands). A sequence log-prob sums `tokens`
        // log-softmax values whose rounding errors are independent and of the logits' size
        // (each within 2 max |logit change|), so they grow as sqrt(tokens): its tolerance is
        // sqrt(tokens) * the logit tolerance (the worst-case bound, 2 * tokens * it, is 5x looser).
        auto mb = ps::load_hf_model(o.model_dir(), torch::kBFloat16);
        const auto logits_bf = logits_of(mb, o.ids);
        const auto hf_bf = tensor_of(o.ref["logits_bfloat16"]);
        const double e_hf = max_diff(hf_bf, want, o.valid);
        const double tol_bf = 4 * e_hf;
        const double err_bf = max_diff(logits_bf, hf_bf, o.valid);
        const double err_bf_truth = max_diff(logits_bf, want, o.valid);
        const auto lp_bf = ps::completion_logps(logits_bf.to(torch::kBFloat16), o.ids, o.mask);
        const double tokens = o.mask.sum(1).max().item<double>();
        const double err_seq_bf =
            (lp_bf.sum.to(torch::kFloat64) - tensor_of(o.ref["seq_logps_bfloat16"])).abs().max().item<double>();
        qInfo("%s bfloat16: transformers' own bf16 error %.3g -> tolerance %.3g; ours vs transformers bf16 %.3g, "
              "vs float32 %.3g; sequence log-probs %.3g (tolerance %.3g)",
              qPrintable(kind), e_hf, tol_bf, err_bf, err_bf_truth, err_seq_bf, std::sqrt(tokens) * tol_bf);
        QVERIFY2(e_hf > 0 && e_hf < 0.5, qPrintable(QString("transformers' bf16 error %1 is implausible").arg(e_hf)));
        QVERIFY2(err_bf <= tol_bf, qPrintable(QString("bf16 logits differ from transformers' by %1 > %2").arg(err_bf).arg(tol_bf)));
        QVERIFY2(err_bf_truth <= tol_bf, qPrintable(QString("bf16 logits differ from float32 by %1 > %2").arg(err_bf_truth).arg(tol_bf)));
        QVERIFY2(err_seq_bf <= std::sqrt(tokens) * tol_bf, qPrintable(QString("bf16 sequence log-probs differ by %1").arg(err_seq_bf)));
    }

    void loraAdapterAndMergeMatchPeft_data() {
        QTest::addColumn<QString>("kind");
        // qwen2: biases and tied embeddings beside the adapted layers; qwen3: q/k norms; gemma3:
        // GeGLU, sandwich norms and soft-capped logits around the adapted layers.
        for (const char* k : {"llama", "qwen2", "qwen3", "gemma3"}) QTest::newRow(k) << QString(k);
    }
    void loraAdapterAndMergeMatchPeft() {
        QFETCH(QString, kind);
        PS_REQUIRE_ORACLE("torch", "transformers", "peft");
        Oracle o;
        QString why;
        QVERIFY2(make_reference(kind, o, &why), qPrintable(why));

        auto m = ps::load_hf_model(o.model_dir(), torch::kFloat32);
        ps::LoraConfig l;
        l.rank = 4;
        l.alpha = 8;
        l.target_modules = {"q_proj", "v_proj", "o_proj", "up_proj", "down_proj"};
        torch::manual_seed(7);
        QCOMPARE(ps::add_lora(m, l), int64_t(2 * 5));
        {
            // B starts at zero (PEFT's init): draw both so that the adapter acts.
            torch::NoGradGuard g;
            for (auto& p : m->named_parameters())
                if (p.key().find("lora_A") != std::string::npos)
                    p.value().normal_(0, 1.0 / std::sqrt(double(p.value().size(1))));
                else if (p.key().find("lora_B") != std::string::npos)
                    p.value().normal_(0, 0.5 / std::sqrt(double(l.rank)));
        }
        json ours;
        ours["logits_adapter"] = json_of(logits_of(m, o.ids));
        ps::save_lora_adapter(m, l, o.dir.filePath("adapter").toStdString(), o.model_dir());
        ps::merge_lora(m);
        ours["logits_merged"] = json_of(logits_of(m, o.ids));
        ps::save_hf_model(m, o.dir.filePath("merged").toStdString());
        std::ofstream(o.dir.filePath("ours.json").toStdString()) << ours.dump();
        QVERIFY2(run_oracle({oracle_script("lora_oracle.py"), o.dir.path()}, &why), qPrintable(why));
    }
};

QTEST_GUILESS_MAIN(TestOracleModels)
#include "test_oracle_models.moc"
