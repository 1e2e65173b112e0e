/* The C runtime of a theanine native library (theanine.runtime.aot).

   One source for every library: what is particular to a function (its
   segments, shapes and embedded data) is the LLVM object linked beside it,
   described by the constant `theanine_aot_program` (codegen/llvm/aot.py).
   This file gives it the public C ABI that the generated header documents:
   it checks the arguments, builds the buffer table the segments read
   (codegen/llvm/buffer_table.py), allocates temporaries, runs each segment
   on a pool of threads, and copies outputs that are views.

   Compiled with -DTH_PREFIX=<name> (the public names are <name>_run, ...)
   and the table offsets -DTH_ITEMS, -DTH_DATA, -DTH_DIMS, -DTH_STRIDES, and
   -DTH_PARALLEL_MIN (the size under which a segment runs on one thread). */

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TH_JOIN(a, b) a##_##b
#define TH_NAME(a, b) TH_JOIN(a, b)
#define TH_API(name) TH_NAME(TH_PREFIX, name)
#define TH_EXPORT __attribute__((visibility("default")))

enum { TH_INPUT = 0, TH_EMBEDDED = 1, TH_ALLOCATED = 2 };
enum { TH_OK = 0, TH_E_ARGUMENT = -1, TH_E_SHAPE = -2, TH_E_MEMORY = -3, TH_E_THREADS = -4 };
#define TH_RECORD_WORDS 6

typedef int32_t (*th_segment_fn)(void *table, int64_t thread, int64_t threads, int64_t *barrier);
typedef void (*th_output_dims_fn)(void *table, int64_t **dims);

typedef struct {
    int64_t rank, itemsize, kind, written;
    const void *data;
    const int64_t *dims;
} th_buffer;

typedef struct {
    th_segment_fn run, shapes;
    int64_t nallocated;
    const int64_t *allocated;
} th_segment;

typedef struct {
    int64_t buffer, rank;
    const int64_t *axes;
} th_output;

typedef struct {
    int64_t nbuffers;
    const th_buffer *buffers;
    int64_t ninputs;
    const int64_t *inputs;
    int64_t nsegments;
    const th_segment *segments;
    int64_t noutputs;
    const th_output *outputs;
    th_output_dims_fn output_dims;
    int64_t nsteps;
    const char *const *messages;
} th_program;

extern const th_program theanine_aot_program;
#define P (&theanine_aot_program)

/* ---- the thread pool: worker t runs job(t); the caller runs job(0) ---- */

typedef struct th_pool {
    pthread_t *workers;
    int threads;
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    uint64_t generation;
    int pending, stop, ready; /* ready: the lock and conditions are initialized */
    th_segment_fn fn;
    void *table;
    int64_t *barrier;
    int32_t *status;
} th_pool;

typedef struct {
    th_pool *pool;
    int index;
} th_worker_arg;

static void *th_worker(void *raw) {
    th_worker_arg *arg = raw;
    th_pool *pool = arg->pool;
    int t = arg->index;
    uint64_t seen = 0;
    free(arg);
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->generation == seen && !pool->stop) pthread_cond_wait(&pool->start, &pool->lock);
        if (pool->stop) break;
        seen = pool->generation;
        pthread_mutex_unlock(&pool->lock);
        int32_t status = pool->fn(pool->table, t, pool->threads, pool->barrier);
        pthread_mutex_lock(&pool->lock);
        pool->status[t] = status;
        if (--pool->pending == 0) pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static int th_pool_start(th_pool *pool, int threads) {
    memset(pool, 0, sizeof *pool);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->ready = 1;
    pool->threads = 1; /* workers started so far, plus the caller: th_pool_stop joins them */
    pool->status = calloc((size_t)threads, sizeof(int32_t));
    pool->workers = calloc((size_t)threads, sizeof(pthread_t));
    if (!pool->status || !pool->workers) return TH_E_MEMORY;
    for (int t = 1; t < threads; t++) {
        th_worker_arg *arg = malloc(sizeof *arg);
        if (!arg) return TH_E_MEMORY;
        arg->pool = pool;
        arg->index = t;
        if (pthread_create(&pool->workers[t], NULL, th_worker, arg) != 0) {
            free(arg);
            return TH_E_THREADS;
        }
        pool->threads = t + 1;
    }
    return TH_OK;
}

static void th_pool_stop(th_pool *pool) {
    if (!pool->ready) return;
    pthread_mutex_lock(&pool->lock);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    for (int t = 1; t < pool->threads; t++) pthread_join(pool->workers[t], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->start);
    pthread_cond_destroy(&pool->done);
    free(pool->workers);
    free(pool->status);
}

/* The barrier's votes are a global of the module: segments that run on several threads run one at a time. */
static pthread_mutex_t th_parallel_lock = PTHREAD_MUTEX_INITIALIZER;

static int32_t th_pool_run(th_pool *pool, th_segment_fn fn, void *table, int64_t *barrier) {
    pthread_mutex_lock(&th_parallel_lock);
    pthread_mutex_lock(&pool->lock);
    pool->fn = fn;
    pool->table = table;
    pool->barrier = barrier;
    pool->pending = pool->threads - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    int32_t status = fn(table, 0, pool->threads, barrier);
    pthread_mutex_lock(&pool->lock);
    while (pool->pending > 0) pthread_cond_wait(&pool->done, &pool->lock);
    for (int t = 1; t < pool->threads; t++)
        if (pool->status[t] > status) status = pool->status[t];
    pthread_mutex_unlock(&pool->lock);
    pthread_mutex_unlock(&th_parallel_lock);
    return status;
}

/* ---- the context: the buffer table, temporaries kept between calls, the pool ---- */

typedef struct th_context {
    void **table;         /* TH_ITEMS bytes of header, then one record pointer per buffer */
    void **records;       /* TH_RECORD_WORDS words per buffer */
    int64_t *dims, *strides;
    int64_t *offsets;     /* where each buffer's dims/strides start in dims/strides */
    void **storage;       /* memory this context owns, per buffer */
    size_t *capacity;
    int64_t barrier[2];
    th_pool pool;
} th_context;

static int64_t th_size(int64_t b, const int64_t *dims) {
    int64_t size = 1;
    for (int64_t a = 0; a < P->buffers[b].rank; a++) size *= dims[a];
    return size;
}

/* Bytes of buffer b as its dims say, or 0 when that overflows (no allocation can hold it). */
static size_t th_bytes(th_context *c, int64_t b) {
    uint64_t bytes = (uint64_t)P->buffers[b].itemsize;
    const int64_t *dims = c->dims + c->offsets[b];
    for (int64_t a = 0; a < P->buffers[b].rank; a++)
        if (__builtin_mul_overflow(bytes, (uint64_t)dims[a], &bytes)) return 0;
    return bytes > SIZE_MAX / 2 ? 0 : (size_t)bytes;
}

static void th_contiguous_strides(th_context *c, int64_t b) {
    int64_t *dims = c->dims + c->offsets[b], *strides = c->strides + c->offsets[b];
    int64_t step = P->buffers[b].itemsize;
    for (int64_t a = P->buffers[b].rank - 1; a >= 0; a--) {
        strides[a] = step;
        step *= dims[a];
    }
}

static void th_set_data(th_context *c, int64_t b, void *data) {
    c->records[TH_RECORD_WORDS * b + TH_DATA / sizeof(void *)] = data;
}

static void *th_data(th_context *c, int64_t b) {
    return c->records[TH_RECORD_WORDS * b + TH_DATA / sizeof(void *)];
}

/* Storage for buffer b of `bytes` bytes, owned by the context and kept for the next call. */
static void *th_storage(th_context *c, int64_t b, size_t bytes) {
    if (bytes == 0) bytes = 1; /* an empty buffer (or an overflowing size, refused before) */
    if (c->capacity[b] < bytes) {
        free(c->storage[b]);
        c->storage[b] = NULL;
        c->capacity[b] = 0;
        if (posix_memalign(&c->storage[b], 64, bytes) != 0) return NULL;
        c->capacity[b] = bytes;
    }
    return c->storage[b];
}

TH_EXPORT void TH_API(destroy)(th_context *c) {
    if (!c) return;
    th_pool_stop(&c->pool);
    if (c->storage)
        for (int64_t b = 0; b < P->nbuffers; b++) free(c->storage[b]);
    free(c->storage);
    free(c->capacity);
    free(c->table);
    free(c->records);
    free(c->dims);
    free(c->strides);
    free(c->offsets);
    free(c);
}

TH_EXPORT th_context *TH_API(create)(int threads) {
    if (threads <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        threads = online > 0 ? (int)online : 1;
    }
    th_context *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    int64_t n = P->nbuffers, total = 0;
    c->offsets = calloc((size_t)n + 1, sizeof(int64_t));
    if (!c->offsets) goto fail;
    for (int64_t b = 0; b < n; b++) {
        c->offsets[b] = total;
        total += P->buffers[b].rank;
    }
    c->table = calloc(TH_ITEMS / sizeof(void *) + (size_t)n + 1, sizeof(void *));
    c->records = calloc((size_t)(TH_RECORD_WORDS * n) + 1, sizeof(void *));
    c->dims = calloc((size_t)total + 1, sizeof(int64_t));
    c->strides = calloc((size_t)total + 1, sizeof(int64_t));
    c->storage = calloc((size_t)n + 1, sizeof(void *));
    c->capacity = calloc((size_t)n + 1, sizeof(size_t));
    if (!c->table || !c->records || !c->dims || !c->strides || !c->storage || !c->capacity) goto fail;
    for (int64_t b = 0; b < n; b++) {
        void **record = c->records + TH_RECORD_WORDS * b;
        c->table[TH_ITEMS / sizeof(void *) + b] = record;
        record[TH_DIMS / sizeof(void *)] = c->dims + c->offsets[b];
        record[TH_STRIDES / sizeof(void *)] = c->strides + c->offsets[b];
        const th_buffer *buffer = &P->buffers[b];
        if (buffer->kind == TH_EMBEDDED) {
            if (buffer->rank) memcpy(c->dims + c->offsets[b], buffer->dims, (size_t)buffer->rank * sizeof(int64_t));
            th_contiguous_strides(c, b);
            th_set_data(c, b, (void *)buffer->data);
        }
    }
    if (th_pool_start(&c->pool, threads) != TH_OK) goto fail;
    return c;
fail:
    TH_API(destroy)(c);
    return NULL;
}

/* Checks the inputs' ranks and static dims and puts their dims in the table. */
static int th_bind_dims(th_context *c, const int64_t *const input_shapes[]) {
    for (int64_t k = 0; k < P->ninputs; k++) {
        int64_t b = P->inputs[k];
        const th_buffer *buffer = &P->buffers[b];
        if (buffer->kind != TH_INPUT) continue;
        if (buffer->rank && (!input_shapes || !input_shapes[k])) return TH_E_ARGUMENT;
        int64_t *dims = c->dims + c->offsets[b];
        for (int64_t a = 0; a < buffer->rank; a++) {
            int64_t d = input_shapes[k][a];
            if (d < 0 || (buffer->dims[a] >= 0 && d != buffer->dims[a])) return TH_E_SHAPE;
            dims[a] = d;
        }
        th_contiguous_strides(c, b);
    }
    return TH_OK;
}

/* Puts the inputs in the table, and copies the input and embedded buffers that a step writes. */
static int th_bind_inputs(th_context *c, const void *const inputs[], const int64_t *const input_shapes[]) {
    int status = th_bind_dims(c, input_shapes);
    if (status != TH_OK) return status;
    for (int64_t k = 0; k < P->ninputs; k++) {
        if (P->buffers[P->inputs[k]].kind != TH_INPUT) continue;
        if (!inputs || !inputs[k]) return TH_E_ARGUMENT;
        th_set_data(c, P->inputs[k], (void *)inputs[k]);
    }
    for (int64_t b = 0; b < P->nbuffers; b++) {
        const th_buffer *buffer = &P->buffers[b];
        if (buffer->kind == TH_EMBEDDED) th_set_data(c, b, (void *)buffer->data);
        if (buffer->kind == TH_ALLOCATED || !buffer->written) continue;
        size_t bytes = th_bytes(c, b);
        if (!bytes && th_size(b, c->dims + c->offsets[b])) return TH_E_MEMORY;
        void *copy = th_storage(c, b, bytes);
        if (!copy) return TH_E_MEMORY;
        memcpy(copy, th_data(c, b), bytes);
        th_set_data(c, b, copy);
    }
    return TH_OK;
}

TH_EXPORT int TH_API(output_shapes)(const int64_t *const input_shapes[], int64_t *const output_shapes[]) {
    if (!output_shapes) return TH_E_ARGUMENT;
    th_context *c = TH_API(create)(1);
    if (!c) return TH_E_MEMORY;
    int status = th_bind_dims(c, input_shapes);
    if (status == TH_OK) P->output_dims(c->table, (int64_t **)output_shapes);
    TH_API(destroy)(c);
    return status;
}

/* Copies output j (a view of its buffer: axes picked, -1 broadcast) into dense memory. */
static void th_copy_output(th_context *c, int64_t j, char *target) {
    const th_output *out = &P->outputs[j];
    int64_t b = out->buffer, rank = out->rank, itemsize = P->buffers[b].itemsize;
    int64_t dims[rank + 1], strides[rank + 1], index[rank + 1], total = 1;
    for (int64_t i = 0; i < rank; i++) {
        int64_t axis = out->axes[i];
        dims[i] = axis < 0 ? 1 : c->dims[c->offsets[b] + axis];
        strides[i] = axis < 0 ? 0 : c->strides[c->offsets[b] + axis];
        index[i] = 0;
        total *= dims[i];
    }
    const char *source = th_data(c, b);
    for (int64_t e = 0; e < total; e++) {
        int64_t offset = 0;
        for (int64_t i = 0; i < rank; i++) offset += index[i] * strides[i];
        memcpy(target + e * itemsize, source + offset, (size_t)itemsize);
        for (int64_t i = rank - 1; i >= 0; i--) {
            if (++index[i] < dims[i]) break;
            index[i] = 0;
        }
    }
}

/* Whether output j is its buffer itself, allocated by a step and not an earlier output: then the
   caller's memory is that buffer and nothing is copied. */
static int th_direct_output(int64_t j) {
    const th_output *out = &P->outputs[j];
    if (P->buffers[out->buffer].kind != TH_ALLOCATED || out->rank != P->buffers[out->buffer].rank) return 0;
    for (int64_t i = 0; i < out->rank; i++)
        if (out->axes[i] != i) return 0;
    for (int64_t e = 0; e < j; e++)
        if (P->outputs[e].buffer == out->buffer) return 0;
    return 1;
}

static int64_t th_direct_target(int64_t b) {
    for (int64_t j = 0; j < P->noutputs; j++)
        if (P->outputs[j].buffer == b && th_direct_output(j)) return j;
    return -1;
}

static int32_t th_run_segment(th_context *c, const th_segment *segment, void *const outputs[]) {
    int32_t status = segment->shapes(c->table, 0, 1, NULL);
    if (status) return status;
    for (int64_t i = 0; i < segment->nallocated; i++) {
        int64_t b = segment->allocated[i];
        th_contiguous_strides(c, b);
        int64_t j = th_direct_target(b);
        size_t bytes = th_bytes(c, b);
        if (!bytes && th_size(b, c->dims + c->offsets[b])) return TH_E_MEMORY;
        void *data = j >= 0 ? outputs[j] : th_storage(c, b, bytes);
        if (!data) return TH_E_MEMORY;
        th_set_data(c, b, data);
    }
    int64_t largest = 0;
    for (int64_t b = 0; b < P->nbuffers; b++) {
        if (!th_data(c, b)) continue;
        int64_t size = th_size(b, c->dims + c->offsets[b]);
        if (size > largest) largest = size;
    }
    if (c->pool.threads == 1 || largest < TH_PARALLEL_MIN) return segment->run(c->table, 0, 1, c->barrier);
    return th_pool_run(&c->pool, segment->run, c->table, c->barrier);
}

TH_EXPORT int TH_API(run)(th_context *context, const void *const inputs[], const int64_t *const input_shapes[],
                          void *const outputs[]) {
    th_context *c = context ? context : TH_API(create)(1);
    if (!c) return TH_E_MEMORY;
    int status = outputs || P->noutputs == 0 ? TH_OK : TH_E_ARGUMENT;
    for (int64_t j = 0; j < P->noutputs && status == TH_OK; j++)
        if (!outputs[j]) status = TH_E_ARGUMENT;
    for (int64_t b = 0; b < P->nbuffers; b++)
        if (P->buffers[b].kind == TH_ALLOCATED) th_set_data(c, b, NULL);
    if (status == TH_OK) status = th_bind_inputs(c, inputs, input_shapes);
    for (int64_t s = 0; s < P->nsegments && status == TH_OK; s++)
        status = th_run_segment(c, &P->segments[s], outputs);
    for (int64_t j = 0; j < P->noutputs && status == TH_OK; j++)
        if (!th_direct_output(j)) th_copy_output(c, j, outputs[j]);
    if (!context) TH_API(destroy)(c);
    return status;
}

TH_EXPORT const char *TH_API(error)(int status) {
    switch (status) {
    case TH_OK: return "ok";
    case TH_E_ARGUMENT: return "a required pointer argument is NULL";
    case TH_E_SHAPE: return "an input's shape does not match the function's input type (rank and static dims)";
    case TH_E_MEMORY: return "out of memory";
    case TH_E_THREADS: return "could not start the worker threads";
    default: break;
    }
    if (status > 0 && status <= P->nsteps) return P->messages[status - 1];
    return "unknown status";
}
