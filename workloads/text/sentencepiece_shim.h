#pragma once
// The C interface of libmoeprof_sentencepiece.so, the one place SentencePiece is linked.
// Debian's libsentencepiece carries its own copy of protobuf and exports it; in a process that
// also has LibTorch's libprotobuf the two copies bind to each other's symbols and the process
// crashes at start. So SentencePiece lives in this module, which the tokenizer loads with
// dlopen(RTLD_LOCAL | RTLD_DEEPBIND): its protobuf calls then stay inside libsentencepiece.
// Every function catches everything; errors come back as text in `error` (NUL-terminated).
#include <cstddef>

extern "C" {

inline constexpr int kMoeprofSpmAbiVersion = 1;
int moeprof_spm_abi_version();

// A processor from a serialized model; null on error.
void* moeprof_spm_load(const char* model, size_t modelBytes, char* error, size_t errorBytes);
void moeprof_spm_free(void* processor);
// Sizes and special ids (-1 when absent).
void moeprof_spm_info(void* processor, int* pieces, int* bos, int* eos, int* pad, int* unk);
// The id of a whole piece, or -1 when the model lacks it.
int moeprof_spm_piece_id(void* processor, const char* piece, size_t pieceBytes);
// Outputs are malloc'd; the caller frees them with free(). Return 0 on success.
int moeprof_spm_encode(void* processor, const char* text, size_t textBytes, int** ids,
                       size_t* count, char* error, size_t errorBytes);
int moeprof_spm_decode(void* processor, const int* ids, size_t count, char** text,
                       size_t* textBytes, char* error, size_t errorBytes);
// Trains on `count` sentences with trainer flags as key/value pairs; *model gets the bytes of
// the .model file.
int moeprof_spm_train(const char* const* sentences, const size_t* sentenceBytes, size_t count,
                      const char* const* keys, const char* const* values, size_t flags,
                      char** model, size_t* modelBytes, char* error, size_t errorBytes);
}
