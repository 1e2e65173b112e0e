/* Times <LIB>_run for the benchmark bench_aot.py: compile with -DLIB=<name> -DLIB_UPPER=<NAME>
   -include <name>.h.  aot_bench THREADS IN0 D0,D1 [...] prints the best of 7 rounds of calls,
   in microseconds per call (each round about 0.1 s). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PASTE(a, b) a##_##b
#define NAME(a, b) PASTE(a, b)
#define CALL(f) NAME(LIB, f)
#define MACRO(m) NAME(LIB_UPPER, m)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    enum { NI = MACRO(NUM_INPUTS), NO = MACRO(NUM_OUTPUTS) };
    static const int out_ranks[] = MACRO(OUTPUT_RANKS), out_items[] = MACRO(OUTPUT_ITEMSIZES);
    const void *inputs[NI + 1];
    int64_t dims[NI + 1][8], out_dims[NO + 1][8];
    const int64_t *shapes[NI + 1];
    int64_t *out_shapes[NO + 1];
    void *outputs[NO + 1];
    int arg = 2;
    for (int k = 0; k < NI; k++, arg += 2) {
        FILE *f = fopen(argv[arg], "rb");
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, 0, SEEK_SET);
        void *data = malloc((size_t)size + 1);
        if (fread(data, 1, (size_t)size, f) != (size_t)size) return 2;
        fclose(f);
        inputs[k] = data;
        int rank = 0;
        for (char *p = argv[arg + 1]; *p && *p != '-'; rank++) {
            dims[k][rank] = strtoll(p, &p, 10);
            if (*p == ',') p++;
        }
        shapes[k] = dims[k];
    }
    for (int j = 0; j < NO; j++) out_shapes[j] = out_dims[j];
    if (CALL(output_shapes)(shapes, out_shapes)) return 1;
    for (int j = 0; j < NO; j++) {
        int64_t size = out_items[j];
        for (int a = 0; a < out_ranks[j]; a++) size *= out_dims[j][a];
        outputs[j] = malloc((size_t)size + 1);
    }
    CALL(context) *context = CALL(create)(atoi(argv[1]));
    double best = 1e30;
    long calls = 1;
    for (int round = 0; round < 8; round++) {
        double start = now();
        for (long c = 0; c < calls; c++)
            if (CALL(run)(context, inputs, shapes, outputs)) return 1;
        double took = now() - start;
        if (round > 0 && took / calls < best) best = took / calls;
        if (round == 0) calls = (long)(0.1 / (took > 1e-7 ? took : 1e-7)) + 1;
    }
    CALL(destroy)(context);
    printf("%.3f\n", best * 1e6);
    return 0;
}
