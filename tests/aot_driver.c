/* A test driver for any theanine native library: compile with -DLIB=<name> -include <name>.h.

   driver THREADS IN0 D0,D1,... [IN1 DIMS ...] -- OUT0 [OUT1 ...]
   Each INk is a raw file of input k's bytes with dims DIMS ("-" for a 0-d input); each OUTj
   receives output j's bytes.  THREADS 0: no context (the calling thread only).  Prints the
   status and its message on failure, and exits 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASTE(a, b) a##_##b
#define NAME(a, b) PASTE(a, b)
#define CALL(f) NAME(LIB, f)
#define MACRO(m) NAME(LIB_UPPER, m)

static void *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc(size ? (size_t)size : 1);
    if (size && fread(data, 1, (size_t)size, f) != (size_t)size) { perror(path); exit(2); }
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    enum { NI = MACRO(NUM_INPUTS), NO = MACRO(NUM_OUTPUTS) };
    static const int out_ranks[] = MACRO(OUTPUT_RANKS), out_items[] = MACRO(OUTPUT_ITEMSIZES);
    const void *inputs[NI + 1];
    int64_t dims[NI + 1][8], out_dims[NO + 1][8];
    const int64_t *shapes[NI + 1];
    int64_t *out_shapes[NO + 1];
    void *outputs[NO + 1];
    int threads = atoi(argv[1]), arg = 2;
    for (int k = 0; k < NI; k++, arg += 2) {
        inputs[k] = read_file(argv[arg]);
        int rank = 0;
        for (char *p = argv[arg + 1]; *p && *p != '-'; rank++) {
            dims[k][rank] = strtoll(p, &p, 10);
            if (*p == ',') p++;
        }
        shapes[k] = dims[k];
    }
    arg++; /* "--" */
    for (int j = 0; j < NO; j++) out_shapes[j] = out_dims[j];
    int status = CALL(output_shapes)(shapes, out_shapes);
    if (status) { printf("status %d: %s\n", status, CALL(error)(status)); return 1; }
    for (int j = 0; j < NO; j++) {
        int64_t size = out_items[j];
        for (int a = 0; a < out_ranks[j]; a++) size *= out_dims[j][a];
        outputs[j] = malloc(size ? (size_t)size : 1);
    }
    CALL(context) *context = threads ? CALL(create)(threads) : NULL;
    for (int repeat = 0; repeat < 2 && status == 0; repeat++) /* twice: kept temporaries are reused */
        status = CALL(run)(context, inputs, shapes, outputs);
    CALL(destroy)(context);
    if (status) { printf("status %d: %s\n", status, CALL(error)(status)); return 1; }
    for (int j = 0; j < NO; j++) {
        int64_t size = out_items[j];
        for (int a = 0; a < out_ranks[j]; a++) size *= out_dims[j][a];
        FILE *f = fopen(argv[arg + j], "wb");
        fwrite(outputs[j], 1, (size_t)size, f);
        fclose(f);
        printf("output %d:", j);
        for (int a = 0; a < out_ranks[j]; a++) printf(" %lld", (long long)out_dims[j][a]);
        printf("\n");
    }
    return 0;
}
