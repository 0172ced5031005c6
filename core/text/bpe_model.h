// The BPE model of a Hugging Face tokenizer.json: vocabulary, ranked merges, byte-level or
// byte-fallback symbols, and a cache of finished words. Its merge loop follows the tokenizers
// library exactly (a priority queue ordered by merge rank, then position), so ids agree with
// Hugging Face's on every word, including its tie-breaking.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ps {

struct BpeOptions {
    // Words arrive as raw bytes and each byte stands for one character of GPT-2's byte-to-unicode
    // map (the ByteLevel pre-tokenizer); otherwise words are UTF-8 text split into characters.
    bool byte_level = false;
    bool byte_fallback = false;   // unknown characters become <0xNN> byte tokens
    bool fuse_unk = false;        // consecutive unknown characters become one unk token
    bool ignore_merges = false;   // a word that is itself in the vocabulary is one token
    std::optional<int32_t> unk_id;
    std::string continuing_subword_prefix;
    std::string end_of_word_suffix;
};

// GPT-2's reversible map from the 256 byte values to printable characters (as UTF-8 strings).
const std::vector<std::string>& byte_to_unicode();
// The inverse map: code point -> byte, -1 where the code point is not one of the 256.
int byte_from_unicode(char32_t cp);

class BpeModel {
public:
    // Throws std::invalid_argument naming the first merge whose parts are not in the vocabulary.
    BpeModel(std::unordered_map<std::string, int32_t> vocab,
             const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options);

    // Appends the ids of one pre-tokenised word.
    void tokenize(std::string_view word, std::vector<int64_t>& out) const;

    const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }
    const BpeOptions& options() const { return options_; }

private:
    struct MergeEntry {
        uint64_t key;
        uint32_t rank;
        int32_t new_id;
    };
    const MergeEntry* find_merge(int32_t left, int32_t right) const;
    void initial_symbols(std::string_view word, std::vector<int32_t>& ids, std::vector<uint32_t>& lengths) const;
    void merge_word(std::vector<int32_t>& ids, std::vector<uint32_t>& lengths) const;
    void tokenize_uncached(std::string_view word, std::vector<int32_t>& out) const;

    std::unordered_map<std::string, int32_t> vocab_;
    BpeOptions options_;
    std::vector<MergeEntry> merge_table_;  // open addressing on key = left << 32 | right
    uint64_t merge_mask_ = 0;
    int32_t byte_ids_[256];  // byte-level: id of each byte's character, -1 when missing
    bool all_bytes_in_vocab_ = false;

    // Cache of finished words: raw word bytes -> ids. Words of at most kMaxCachedWord bytes are
    // cached; the cache is emptied when it reaches kMaxCacheEntries words.
    static constexpr size_t kMaxCachedWord = 256;
    static constexpr size_t kMaxCacheEntries = 1 << 20;
    struct CacheSlot {
        uint64_t hash = 0;
        uint32_t key_offset = 0, key_length = UINT32_MAX, ids_offset = 0, ids_length = 0;
    };
    bool cache_find(std::string_view word, uint64_t hash, std::vector<int64_t>& out) const;
    void cache_insert(std::string_view word, uint64_t hash, const std::vector<int32_t>& ids) const;
    mutable std::mutex cache_mutex_;
    mutable std::vector<CacheSlot> cache_slots_;
    mutable std::string cache_keys_;
    mutable std::vector<int32_t> cache_ids_;
    mutable size_t cache_used_ = 0;
};

}  // namespace ps
