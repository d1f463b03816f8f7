/* Matrix products that read weights in the GGUF's own block formats, for passes over a few rows.
 *
 * Why: a pass over one to a few tokens is bound by reading the weights from memory. Dequantised
 * to float32 they are 540 MB per token; in the GGUF's blocks they are about 100 MB. The blocks
 * *are* the model's weights (the float32 copy is made from them), so computing from them gives
 * the same numbers up to float32 rounding order: nothing is approximated.
 *
 * Formats (the GGUF's, with the float16 scales widened to float32 when loaded):
 *   Q4_1  weight[j][32b + i] = scale[j][b] * code + low[j][b], code in 0..15 packed two per byte:
 *         byte i of a block holds element i in its low nibble and element i + 16 in its high one.
 *   Q8_0  weight[j][32b + i] = scale[j][b] * code, code a signed byte.
 *
 * Both functions compute out (m x n) = x (m x k) @ weight^T for output rows [row_begin, row_end),
 * so a caller may split the rows between threads. x and out are row-major float32 with k and n
 * columns. Sums run in float32, in an order that differs from a dense float32 product: results
 * agree with it to float32 rounding (checked by tests/model/test_blockmatmul.py).
 *
 * Built by model/blockmatmul.py with the C compiler at hand and -march=native; AVX-512 and AVX2
 * have explicit paths, anything else the plain loop.
 *
 * Threads (tt_set_threads): one product is split into chunks of CHUNK output rows, and the caller
 * and up to MAX_HELPERS helper threads take chunks from a shared counter until none are left.
 * Nobody is assigned a fixed half: if a helper has no core (another process is busy there), the
 * caller simply takes its chunks, and waits at most for the one chunk that helper has started.
 * One row of output is always computed by one thread in one order, so the result does not depend
 * on the number of threads.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#define BLOCK 32
#define MAX_ROWS 16 /* the Python side sends at most this many rows; more go to the dense path */

int tt_simd_width(void) {
#if defined(__AVX512F__)
    return 16;
#elif defined(__AVX2__) && defined(__FMA__)
    return 8;
#else
    return 1;
#endif
}

int tt_max_rows(void) { return MAX_ROWS; }

/* Sum of x over each block, per row: the Q4_1 "low" term is low * (sum of the block's x). */
static void block_sums(const float *x, int64_t m, int64_t k, float *sums) {
    int64_t nb = k / BLOCK;
    for (int64_t r = 0; r < m; r++)
        for (int64_t b = 0; b < nb; b++) {
            float s = 0.0f;
            for (int i = 0; i < BLOCK; i++) s += x[r * k + b * BLOCK + i];
            sums[r * nb + b] = s;
        }
}

#if defined(__AVX512F__)
static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__)
static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

static void q4_1_rows(const float *x, int64_t m, int64_t k, const uint8_t *codes, const float *scale,
                      const float *low, int64_t n, float *out, const float *sums, int64_t row_begin,
                      int64_t row_end) {
    const int64_t nb = k / BLOCK;
    for (int64_t j = row_begin; j < row_end; j++) {
        const uint8_t *c = codes + j * (k / 2);
        const float *sc = scale + j * nb, *lo = low + j * nb;
        float low_part[MAX_ROWS];
        for (int64_t r = 0; r < m; r++) {
            float s = 0.0f;
            for (int64_t b = 0; b < nb; b++) s += lo[b] * sums[r * nb + b];
            low_part[r] = s;
        }
#if defined(__AVX512F__)
        __m512 acc[MAX_ROWS];
        for (int64_t r = 0; r < m; r++) acc[r] = _mm512_setzero_ps();
        const __m128i mask = _mm_set1_epi8(0x0F);
        for (int64_t b = 0; b < nb; b++) {
            __m128i bytes = _mm_loadu_si128((const __m128i *)(c + b * 16));
            __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(bytes, mask)));
            __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask)));
            __m512 s = _mm512_set1_ps(sc[b]);
            for (int64_t r = 0; r < m; r++) {
                const float *xb = x + r * k + b * BLOCK;
                __m512 t = _mm512_fmadd_ps(_mm512_loadu_ps(xb), w0, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), w1));
                acc[r] = _mm512_fmadd_ps(s, t, acc[r]);
            }
        }
        for (int64_t r = 0; r < m; r++) out[r * n + j] = hsum(acc[r]) + low_part[r];
#elif defined(__AVX2__) && defined(__FMA__)
        __m256 acc[MAX_ROWS];
        for (int64_t r = 0; r < m; r++) acc[r] = _mm256_setzero_ps();
        const __m128i mask = _mm_set1_epi8(0x0F);
        for (int64_t b = 0; b < nb; b++) {
            __m128i bytes = _mm_loadu_si128((const __m128i *)(c + b * 16));
            __m128i lo4 = _mm_and_si128(bytes, mask), hi4 = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
            __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo4));
            __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo4, 8)));
            __m256 w2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi4));
            __m256 w3 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi4, 8)));
            __m256 s = _mm256_set1_ps(sc[b]);
            for (int64_t r = 0; r < m; r++) {
                const float *xb = x + r * k + b * BLOCK;
                __m256 t = _mm256_mul_ps(_mm256_loadu_ps(xb), w0);
                t = _mm256_fmadd_ps(_mm256_loadu_ps(xb + 8), w1, t);
                t = _mm256_fmadd_ps(_mm256_loadu_ps(xb + 16), w2, t);
                t = _mm256_fmadd_ps(_mm256_loadu_ps(xb + 24), w3, t);
                acc[r] = _mm256_fmadd_ps(s, t, acc[r]);
            }
        }
        for (int64_t r = 0; r < m; r++) out[r * n + j] = hsum(acc[r]) + low_part[r];
#else
        for (int64_t r = 0; r < m; r++) {
            float total = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                const float *xb = x + r * k + b * BLOCK;
                float t = 0.0f;
                for (int i = 0; i < 16; i++)
                    t += xb[i] * (float)(c[b * 16 + i] & 15) + xb[i + 16] * (float)(c[b * 16 + i] >> 4);
                total += sc[b] * t;
            }
            out[r * n + j] = total + low_part[r];
        }
#endif
    }
}

static void q8_0_rows(const float *x, int64_t m, int64_t k, const int8_t *codes, const float *scale,
                      int64_t n, float *out, int64_t row_begin, int64_t row_end) {
    const int64_t nb = k / BLOCK;
    for (int64_t j = row_begin; j < row_end; j++) {
        const int8_t *c = codes + j * k;
        const float *sc = scale + j * nb;
#if defined(__AVX512F__)
        __m512 acc[MAX_ROWS];
        for (int64_t r = 0; r < m; r++) acc[r] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK))));
            __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK + 16))));
            __m512 s = _mm512_set1_ps(sc[b]);
            for (int64_t r = 0; r < m; r++) {
                const float *xb = x + r * k + b * BLOCK;
                __m512 t = _mm512_fmadd_ps(_mm512_loadu_ps(xb), w0, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), w1));
                acc[r] = _mm512_fmadd_ps(s, t, acc[r]);
            }
        }
        for (int64_t r = 0; r < m; r++) out[r * n + j] = hsum(acc[r]);
#elif defined(__AVX2__) && defined(__FMA__)
        __m256 acc[MAX_ROWS];
        for (int64_t r = 0; r < m; r++) acc[r] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            __m256 w[4];
            for (int q = 0; q < 4; q++)
                w[q] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(c + b * BLOCK + 8 * q))));
            __m256 s = _mm256_set1_ps(sc[b]);
            for (int64_t r = 0; r < m; r++) {
                const float *xb = x + r * k + b * BLOCK;
                __m256 t = _mm256_mul_ps(_mm256_loadu_ps(xb), w[0]);
                for (int q = 1; q < 4; q++) t = _mm256_fmadd_ps(_mm256_loadu_ps(xb + 8 * q), w[q], t);
                acc[r] = _mm256_fmadd_ps(s, t, acc[r]);
            }
        }
        for (int64_t r = 0; r < m; r++) out[r * n + j] = hsum(acc[r]);
#else
        for (int64_t r = 0; r < m; r++) {
            float total = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                float t = 0.0f;
                for (int i = 0; i < BLOCK; i++) t += x[r * k + b * BLOCK + i] * (float)c[b * BLOCK + i];
                total += sc[b] * t;
            }
            out[r * n + j] = total;
        }
#endif
    }
}

/* ---- splitting one product between threads ------------------------------------------------ */

#define CHUNK 32        /* output rows per chunk: a few microseconds of work */
#define MAX_HELPERS 7
#define SPIN_ROUNDS 20000 /* a helper polls this long (~100-200 us) for the next product before sleeping */

typedef struct {
    int q8;             /* 1: Q8_0, 0: Q4_1 */
    const float *x, *scale, *low, *sums;
    const void *codes;
    int64_t m, k, n, row_begin, row_end;
    float *out;
} product;

/* The product being computed, and its chunks: `ticket` holds the product's sequence number in the
 * high 32 bits and the next unclaimed chunk in the low 32. A helper copies the product, then claims
 * a chunk with a compare-and-swap on the ticket it read; if the caller has moved on meanwhile, the
 * swap fails and the copy is dropped, so a late helper never touches a finished product. */
static product current;
static _Atomic uint64_t ticket;
static _Atomic int64_t chunks_done;
static int64_t chunk_count;
static int n_threads = 1, n_started = 0;
static _Atomic int sleepers;
static pthread_mutex_t wake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER; /* one product at a time */

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_rows(const product *p, int64_t begin, int64_t end) {
    if (p->q8)
        q8_0_rows(p->x, p->m, p->k, (const int8_t *)p->codes, p->scale, p->n, p->out, begin, end);
    else
        q4_1_rows(p->x, p->m, p->k, (const uint8_t *)p->codes, p->scale, p->low, p->n, p->out, p->sums,
                  begin, end);
}

/* Take chunks of the product numbered `seq` until none are left (or it is no longer current). */
static void take_chunks(uint32_t seq) {
    for (;;) {
        uint64_t t = atomic_load(&ticket);
        if ((uint32_t)(t >> 32) != seq) return;
        int64_t c = (int64_t)(uint32_t)t;
        product p = current;          /* copied before claiming: see `ticket` */
        int64_t count = chunk_count;
        if (c >= count) return;
        if (!atomic_compare_exchange_weak(&ticket, &t, t + 1)) continue;
        int64_t begin = p.row_begin + c * CHUNK, end = begin + CHUNK;
        run_rows(&p, begin, end < p.row_end ? end : p.row_end);
        atomic_fetch_add(&chunks_done, 1);
    }
}

static void *helper_main(void *unused) {
    (void)unused;
    uint32_t seen = 0;
    for (;;) {
        uint32_t seq = 0;
        for (int spin = 0; spin < SPIN_ROUNDS; spin++) {
            seq = (uint32_t)(atomic_load(&ticket) >> 32);
            if (seq != seen) break;
            relax();
        }
        if (seq == seen) { /* nothing to do for a while: sleep until the next product */
            pthread_mutex_lock(&wake_lock);
            atomic_fetch_add(&sleepers, 1);
            while ((seq = (uint32_t)(atomic_load(&ticket) >> 32)) == seen)
                pthread_cond_wait(&wake, &wake_lock);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&wake_lock);
        }
        seen = seq;
        take_chunks(seq);
    }
    return NULL;
}

/* How many threads (caller included) share each product from now on; returns the number in use.
 * Helpers are started on first need and then sleep when unused. */
int tt_set_threads(int threads) {
    if (threads < 1) threads = 1;
    if (threads > MAX_HELPERS + 1) threads = MAX_HELPERS + 1;
    pthread_mutex_lock(&call_lock);
    while (n_started < threads - 1) {
        pthread_t id;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int failed = pthread_create(&id, &attr, helper_main, NULL);
        pthread_attr_destroy(&attr);
        if (failed) break;
        n_started++;
    }
    n_threads = n_started + 1 < threads ? n_started + 1 : threads;
    pthread_mutex_unlock(&call_lock);
    return n_threads;
}

int tt_threads(void) { return n_threads; }

static void run_product(const product *p) {
    int64_t rows = p->row_end - p->row_begin;
    if (n_threads < 2 || rows < 2 * CHUNK) {
        run_rows(p, p->row_begin, p->row_end);
        return;
    }
    current = *p;
    chunk_count = (rows + CHUNK - 1) / CHUNK;
    atomic_store(&chunks_done, 0);
    uint32_t seq = (uint32_t)(atomic_load(&ticket) >> 32) + 1;
    atomic_store(&ticket, (uint64_t)seq << 32); /* publishes `current` and `chunk_count` */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&wake_lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&wake_lock);
    }
    take_chunks(seq);
    while (atomic_load(&chunks_done) < chunk_count) relax(); /* chunks a helper started */
}

int tt_q4_1_matmul(const float *x, int64_t m, int64_t k, const uint8_t *codes, const float *scale,
                   const float *low, int64_t n, float *out, int64_t row_begin, int64_t row_end) {
    if (m < 1 || m > MAX_ROWS || k % BLOCK || k / BLOCK > 1024 || row_begin < 0 || row_end > n) return -1;
    float sums[MAX_ROWS * 1024];
    block_sums(x, m, k, sums);
    product p = {0, x, scale, low, sums, codes, m, k, n, row_begin, row_end, out};
    pthread_mutex_lock(&call_lock);
    run_product(&p);
    pthread_mutex_unlock(&call_lock);
    return 0;
}

int tt_q8_0_matmul(const float *x, int64_t m, int64_t k, const int8_t *codes, const float *scale,
                   int64_t n, float *out, int64_t row_begin, int64_t row_end) {
    if (m < 1 || m > MAX_ROWS || k % BLOCK || row_begin < 0 || row_end > n) return -1;
    product p = {1, x, scale, NULL, NULL, codes, m, k, n, row_begin, row_end, out};
    pthread_mutex_lock(&call_lock);
    run_product(&p);
    pthread_mutex_unlock(&call_lock);
    return 0;
}
