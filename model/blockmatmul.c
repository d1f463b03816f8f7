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
 * Threads: `threads` > 1 splits the output rows into one contiguous share per thread, through
 * OpenMP. Compiled with -fopenmp, the library's libgomp.so.1 is the one torch has already loaded
 * (the dynamic loader matches the soname), so these threads are torch's own team: the same
 * GOMP_SPINCOUNT, no second pool competing for the cores. The caller passes torch's current
 * thread count, which the engine's budget sets per job (fewer threads when other processes keep
 * a core busy). Decoding the 4-bit codes, not reading memory, bounds one thread on some machines
 * (docs/PERFORMANCE.md, "Short passes").
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#define BLOCK 32
#define MIN_ROWS_PER_THREAD 64 /* a smaller share costs more to hand out than it saves */
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

#if defined(__AVX2__) && defined(__FMA__)
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static const int32_t tail_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* sum over i < count of a[i] * b[i], left as a vector to be summed with the rest of a row */
static inline __m256 dot_vector8(const float *a, const float *b, int64_t count) {
    __m256 s = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= count; i += 8) s = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s);
    if (i < count) {
        __m256i tail = _mm256_loadu_si256((const __m256i *)(tail_masks + 8 - (count - i)));
        s = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, tail), _mm256_maskload_ps(b + i, tail), s);
    }
    return s;
}
#endif

#if defined(__AVX512F__)
static inline float hsum(__m512 v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX2__) && defined(__FMA__)
static inline float hsum(__m256 v) { return hsum8(v); }
#endif

#if defined(__AVX512F__)
/* sum over i < count of a[i] * b[i], left as a vector to be summed with the rest of a row */
static inline __m512 dot_vector(const float *a, const float *b, int64_t count) {
    __m512 s = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s);
    if (i < count) {
        __mmask16 tail = (__mmask16)((1u << (count - i)) - 1);
        s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, a + i), _mm512_maskz_loadu_ps(tail, b + i), s);
    }
    return s;
}

/* Q4_1 block b of one weight row as two float vectors: weights 0-15 and 16-31 of the block */
static inline void q4_1_unpack(const uint8_t *c, int64_t b, __m512 *w0, __m512 *w1) {
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m128i bytes = _mm_loadu_si128((const __m128i *)(c + b * 16));
    *w0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(bytes, mask)));
    *w1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(bytes, 4), mask)));
}

/* One output row j for m <= 4 rows of x (generation, typing): two sums per row, even and odd
 * blocks, so the additions of consecutive blocks do not wait for each other; the "low" term,
 * low[b] * (sum of block b of x), joins them in the final sum. */
static inline __attribute__((always_inline)) void q4_1_row_few(
        const int64_t m, const float *x, int64_t k, const uint8_t *c, const float *sc, const float *lo,
        const float *sums, int64_t nb, float *out, int64_t n, int64_t j) {
    __m512 even[4], odd[4];
    for (int64_t r = 0; r < m; r++) even[r] = odd[r] = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m512 w0, w1, v0, v1;
        q4_1_unpack(c, b, &w0, &w1);
        q4_1_unpack(c, b + 1, &v0, &v1);
        __m512 s0 = _mm512_set1_ps(sc[b]), s1 = _mm512_set1_ps(sc[b + 1]);
        for (int64_t r = 0; r < m; r++) {
            const float *xb = x + r * k + b * BLOCK;
            __m512 t0 = _mm512_fmadd_ps(_mm512_loadu_ps(xb), w0, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), w1));
            __m512 t1 = _mm512_fmadd_ps(_mm512_loadu_ps(xb + 32), v0, _mm512_mul_ps(_mm512_loadu_ps(xb + 48), v1));
            even[r] = _mm512_fmadd_ps(s0, t0, even[r]);
            odd[r] = _mm512_fmadd_ps(s1, t1, odd[r]);
        }
    }
    if (b < nb) {
        __m512 w0, w1;
        q4_1_unpack(c, b, &w0, &w1);
        __m512 s0 = _mm512_set1_ps(sc[b]);
        for (int64_t r = 0; r < m; r++) {
            const float *xb = x + r * k + b * BLOCK;
            __m512 t0 = _mm512_fmadd_ps(_mm512_loadu_ps(xb), w0, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), w1));
            even[r] = _mm512_fmadd_ps(s0, t0, even[r]);
        }
    }
    for (int64_t r = 0; r < m; r++)
        out[r * n + j] = hsum(_mm512_add_ps(_mm512_add_ps(even[r], odd[r]), dot_vector(lo, sums + r * nb, nb)));
}
#endif

#if !defined(__AVX512F__) && defined(__AVX2__) && defined(__FMA__)
/* AVX2 (machines without AVX-512, such as AMD Zen 3). As in the AVX-512 path, a constant row
 * count (m <= 4) keeps every sum in a register, and each row keeps two sums, even and odd blocks,
 * so consecutive blocks do not wait for each other's addition. Measured on a Zen 3 EPYC, the
 * general loop below (sums in an array indexed by a variable row count, the "low" term a scalar
 * loop per output row) ran a token's Q4_1 products about three times slower than this. */

/* Q4_1 block b of one weight row as four float vectors: weights 0-7, 8-15, 16-23, 24-31 */
static inline void q4_1_unpack8(const void *codes, int64_t b, __m256 w[4]) {
    const uint8_t *c = codes;
    const __m128i mask = _mm_set1_epi8(0x0F);
    __m128i bytes = _mm_loadu_si128((const __m128i *)(c + b * 16));
    __m128i lo4 = _mm_and_si128(bytes, mask), hi4 = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    w[0] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo4));
    w[1] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo4, 8)));
    w[2] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi4));
    w[3] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi4, 8)));
}

/* x[0:32] . w[0..3], as two independent products added */
static inline __m256 block_dot8(const float *xb, const __m256 w[4]) {
    __m256 a = _mm256_fmadd_ps(_mm256_loadu_ps(xb), w[0], _mm256_mul_ps(_mm256_loadu_ps(xb + 8), w[1]));
    __m256 b = _mm256_fmadd_ps(_mm256_loadu_ps(xb + 16), w[2], _mm256_mul_ps(_mm256_loadu_ps(xb + 24), w[3]));
    return _mm256_add_ps(a, b);
}

/* Q8_0 block b of one weight row as four float vectors */
static inline void q8_0_unpack8(const void *codes, int64_t b, __m256 w[4]) {
    const int8_t *c = codes;
    __m128i lo = _mm_loadu_si128((const __m128i *)(c + b * BLOCK));
    __m128i hi = _mm_loadu_si128((const __m128i *)(c + b * BLOCK + 16));
    w[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    w[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    w[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    w[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

/* One output row j for m <= 4 rows of x, either format: `unpack` decodes a block of the row's
 * codes `c`; `lo` is the Q4_1 "low" of each block (joined as low[b] * (sum of block b of x)), or
 * NULL for Q8_0. Called with a constant unpack and row count, so both are compiled in. */
static inline __attribute__((always_inline)) void row_few8(
        const int64_t m, void (*unpack)(const void *, int64_t, __m256 *), const float *x, int64_t k,
        const void *c, const float *sc, const float *lo, const float *sums, int64_t nb, float *out,
        int64_t n, int64_t j) {
    __m256 even[4], odd[4];
    for (int64_t r = 0; r < m; r++) even[r] = odd[r] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256 w[4], v[4];
        unpack(c, b, w);
        unpack(c, b + 1, v);
        __m256 s0 = _mm256_set1_ps(sc[b]), s1 = _mm256_set1_ps(sc[b + 1]);
        for (int64_t r = 0; r < m; r++) {
            const float *xb = x + r * k + b * BLOCK;
            even[r] = _mm256_fmadd_ps(s0, block_dot8(xb, w), even[r]);
            odd[r] = _mm256_fmadd_ps(s1, block_dot8(xb + BLOCK, v), odd[r]);
        }
    }
    if (b < nb) {
        __m256 w[4];
        unpack(c, b, w);
        __m256 s0 = _mm256_set1_ps(sc[b]);
        for (int64_t r = 0; r < m; r++) even[r] = _mm256_fmadd_ps(s0, block_dot8(x + r * k + b * BLOCK, w), even[r]);
    }
    for (int64_t r = 0; r < m; r++) {
        __m256 sum = _mm256_add_ps(even[r], odd[r]);
        if (lo) sum = _mm256_add_ps(sum, dot_vector8(lo, sums + r * nb, nb));
        out[r * n + j] = hsum(sum);
    }
}
#endif

static void q4_1_rows(const float *x, int64_t m, int64_t k, const uint8_t *codes, const float *scale,
                      const float *low, int64_t n, float *out, const float *sums, int64_t row_begin,
                      int64_t row_end) {
    const int64_t nb = k / BLOCK;
    for (int64_t j = row_begin; j < row_end; j++) {
        const uint8_t *c = codes + j * (k / 2);
        const float *sc = scale + j * nb, *lo = low + j * nb;
#if defined(__AVX512F__)
        if (m <= 4) {
            /* a constant row count lets the compiler keep every sum in a register */
            switch (m) {
            case 1: q4_1_row_few(1, x, k, c, sc, lo, sums, nb, out, n, j); break;
            case 2: q4_1_row_few(2, x, k, c, sc, lo, sums, nb, out, n, j); break;
            case 3: q4_1_row_few(3, x, k, c, sc, lo, sums, nb, out, n, j); break;
            default: q4_1_row_few(4, x, k, c, sc, lo, sums, nb, out, n, j); break;
            }
            continue;
        }
        __m512 acc[MAX_ROWS];
        for (int64_t r = 0; r < m; r++) acc[r] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            __m512 w0, w1;
            q4_1_unpack(c, b, &w0, &w1);
            __m512 s = _mm512_set1_ps(sc[b]);
            for (int64_t r = 0; r < m; r++) {
                const float *xb = x + r * k + b * BLOCK;
                __m512 t = _mm512_fmadd_ps(_mm512_loadu_ps(xb), w0, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), w1));
                acc[r] = _mm512_fmadd_ps(s, t, acc[r]);
            }
        }
        for (int64_t r = 0; r < m; r++) out[r * n + j] = hsum(_mm512_add_ps(acc[r], dot_vector(lo, sums + r * nb, nb)));
#else
#if defined(__AVX2__) && defined(__FMA__)
        if (m <= 4) {
            switch (m) {
            case 1: row_few8(1, q4_1_unpack8, x, k, c, sc, lo, sums, nb, out, n, j); break;
            case 2: row_few8(2, q4_1_unpack8, x, k, c, sc, lo, sums, nb, out, n, j); break;
            case 3: row_few8(3, q4_1_unpack8, x, k, c, sc, lo, sums, nb, out, n, j); break;
            default: row_few8(4, q4_1_unpack8, x, k, c, sc, lo, sums, nb, out, n, j); break;
            }
            continue;
        }
#endif
        float low_part[MAX_ROWS];
        for (int64_t r = 0; r < m; r++) {
            float s = 0.0f;
            for (int64_t b = 0; b < nb; b++) s += lo[b] * sums[r * nb + b];
            low_part[r] = s;
        }
#if defined(__AVX2__) && defined(__FMA__)
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
        if (m == 1) { /* one row: two sums in registers, even and odd blocks */
            __m512 even = _mm512_setzero_ps(), odd = _mm512_setzero_ps();
            int64_t b = 0;
            for (; b + 2 <= nb; b += 2) {
                __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK))));
                __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK + 16))));
                __m512 v0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK + 32))));
                __m512 v1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK + 48))));
                const float *xb = x + b * BLOCK;
                __m512 t0 = _mm512_fmadd_ps(_mm512_loadu_ps(xb), w0, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), w1));
                __m512 t1 = _mm512_fmadd_ps(_mm512_loadu_ps(xb + 32), v0, _mm512_mul_ps(_mm512_loadu_ps(xb + 48), v1));
                even = _mm512_fmadd_ps(_mm512_set1_ps(sc[b]), t0, even);
                odd = _mm512_fmadd_ps(_mm512_set1_ps(sc[b + 1]), t1, odd);
            }
            if (b < nb) {
                __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK))));
                __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK + 16))));
                const float *xb = x + b * BLOCK;
                __m512 t0 = _mm512_fmadd_ps(_mm512_loadu_ps(xb), w0, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), w1));
                even = _mm512_fmadd_ps(_mm512_set1_ps(sc[b]), t0, even);
            }
            out[j] = hsum(_mm512_add_ps(even, odd));
            continue;
        }
        /* as for Q4_1: up to 4 rows keep two sums each (even and odd blocks), more keep one */
        const int split = m <= 4;
        __m512 acc[2 * MAX_ROWS];
        for (int64_t r = 0; r < 2 * m; r++) acc[r] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            __m512 w0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK))));
            __m512 w1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(c + b * BLOCK + 16))));
            __m512 s = _mm512_set1_ps(sc[b]);
            __m512 *sums_of_block = acc + (split ? (b & 1) * m : 0);
            for (int64_t r = 0; r < m; r++) {
                const float *xb = x + r * k + b * BLOCK;
                __m512 t = _mm512_fmadd_ps(_mm512_loadu_ps(xb), w0, _mm512_mul_ps(_mm512_loadu_ps(xb + 16), w1));
                sums_of_block[r] = _mm512_fmadd_ps(s, t, sums_of_block[r]);
            }
        }
        for (int64_t r = 0; r < m; r++) out[r * n + j] = hsum(_mm512_add_ps(acc[r], acc[m + r]));
#elif defined(__AVX2__) && defined(__FMA__)
        if (m <= 4) {
            switch (m) {
            case 1: row_few8(1, q8_0_unpack8, x, k, c, sc, NULL, NULL, nb, out, n, j); break;
            case 2: row_few8(2, q8_0_unpack8, x, k, c, sc, NULL, NULL, nb, out, n, j); break;
            case 3: row_few8(3, q8_0_unpack8, x, k, c, sc, NULL, NULL, nb, out, n, j); break;
            default: row_few8(4, q8_0_unpack8, x, k, c, sc, NULL, NULL, nb, out, n, j); break;
            }
            continue;
        }
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

/* Rows [row_begin, row_end) split into one contiguous share per thread (at most `threads`, and
 * no share under MIN_ROWS_PER_THREAD rows); each thread calls run(begin, end). */
#define SPLIT_ROWS(threads, row_begin, row_end, CALL)                                            \
    do {                                                                                         \
        int64_t rows_ = (row_end) - (row_begin);                                                 \
        int parts_ = (threads) < 1 ? 1 : (threads);                                              \
        if (parts_ > rows_ / MIN_ROWS_PER_THREAD) parts_ = (int)(rows_ / MIN_ROWS_PER_THREAD);  \
        if (parts_ <= 1) {                                                                       \
            int64_t begin = (row_begin), end = (row_end);                                        \
            CALL;                                                                                \
        } else {                                                                                 \
            _Pragma("omp parallel for num_threads(parts_) schedule(static, 1)")                \
            for (int part = 0; part < parts_; part++) {                                          \
                int64_t begin = (row_begin) + rows_ * part / parts_;                             \
                int64_t end = (row_begin) + rows_ * (part + 1) / parts_;                         \
                CALL;                                                                            \
            }                                                                                    \
        }                                                                                        \
    } while (0)

int tt_q4_1_matmul(const float *x, int64_t m, int64_t k, const uint8_t *codes, const float *scale,
                   const float *low, int64_t n, float *out, int64_t row_begin, int64_t row_end,
                   int threads) {
    if (m < 1 || m > MAX_ROWS || k % BLOCK || k / BLOCK > 1024 || row_begin < 0 || row_end > n) return -1;
    float sums[MAX_ROWS * 1024];
    block_sums(x, m, k, sums);
    SPLIT_ROWS(threads, row_begin, row_end, q4_1_rows(x, m, k, codes, scale, low, n, out, sums, begin, end));
    return 0;
}

int tt_q8_0_matmul(const float *x, int64_t m, int64_t k, const int8_t *codes, const float *scale,
                   int64_t n, float *out, int64_t row_begin, int64_t row_end, int threads) {
    if (m < 1 || m > MAX_ROWS || k % BLOCK || row_begin < 0 || row_end > n) return -1;
    SPLIT_ROWS(threads, row_begin, row_end, q8_0_rows(x, m, k, codes, scale, n, out, begin, end));
    return 0;
}

/* Several matrices of the same input size and format, stacked by rows as one product: out (m x N)
 * holds matrix p's products in columns [offset_p, offset_p + n_p), N the sum of the n_p. Attention's
 * q, k and v (the MLP's gate and up) read the same input; one call, one block sum of x and one split
 * between threads replace three (two), and each matrix stays where it is (no stacked copy). */
/* Stacked rows [begin, end) of tt_q4_1_matmul_parts: a share may cross from one matrix into the next. */
static void q4_1_parts_rows(const float *x, int64_t m, int64_t k, int parts, const uint8_t *const *codes,
                            const float *const *scale, const float *const *low, const int64_t *start,
                            float *out, const float *sums, int64_t begin, int64_t end) {
    const int64_t total = start[parts];
    for (int p = 0; p < parts; p++) {
        int64_t first = begin > start[p] ? begin : start[p];
        int64_t last = end < start[p + 1] ? end : start[p + 1];
        if (first < last)
            q4_1_rows(x, m, k, codes[p], scale[p], low[p], total, out + start[p], sums, first - start[p], last - start[p]);
    }
}

int tt_q4_1_matmul_parts(const float *x, int64_t m, int64_t k, int parts, const uint8_t *const *codes,
                         const float *const *scale, const float *const *low, const int64_t *n, float *out,
                         int threads) {
    if (m < 1 || m > MAX_ROWS || k % BLOCK || k / BLOCK > 1024 || parts < 1 || parts > 8) return -1;
    int64_t start[9] = {0};
    for (int p = 0; p < parts; p++) {
        if (n[p] < 0) return -1;
        start[p + 1] = start[p] + n[p];
    }
    float sums[MAX_ROWS * 1024];
    block_sums(x, m, k, sums);
    SPLIT_ROWS(threads, 0, start[parts],
               q4_1_parts_rows(x, m, k, parts, codes, scale, low, start, out, sums, begin, end));
    return 0;
}

/* ---- Long passes: many rows (a prompt's analysis), Q4_1 only --------------------------------
 *
 * Why: from about a dozen rows on, the product is bound by arithmetic, not by reading weights, so
 * the few-row kernels above (one weight row against all rows of x, sums reduced across a vector)
 * lose to a dense float32 GEMM. This is such a GEMM, except that it never reads the float32
 * weights: it decodes the 4-bit blocks into a small buffer as it goes (about a fifth of the bytes
 * from memory, and the 540 MB float32 copy is not touched). The decoded weights are scale * code +
 * low rounded exactly as the float32 copy was made (a multiply, then an add: no FMA), so this is the
 * dense product of the model's own float32 weights with sums in another order.
 *
 * Shape (the usual GEMM blocking, as in BLIS or oneDNN): columns of the output (weight rows) are
 * taken 16 at a time as a "panel"; for a slice of KC inputs, a group of up to GROUP panels is
 * decoded and transposed into `piece` (input-major: 16 floats per input), and then every 6 rows of
 * x are multiplied against each panel with 12 vector sums in registers (6 rows x 16 columns), each
 * step a broadcast of x and two loads of the piece for 12 FMAs. Slices after the first add to the
 * output, so each sum runs over at most KC terms before it is added (float32 error like oneDNN's).
 * Only on AVX2 machines without AVX-512: there oneDNN's 16-wide float32 products are measured
 * faster than any 8-wide kernel could be (docs/PERFORMANCE.md, "Long passes"). */
#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#define LONG_KERNEL 1
#define PANEL 16    /* output columns per panel: two 8-float vectors */
#define TILE_ROWS 6 /* rows of x per register tile: 12 sums + 2 panel vectors + 1 broadcast = 15 of 16 registers */
#define KC 192      /* inputs per slice (6 blocks): a group's decoded slice stays in L1 and L2 */
#define GROUP 4     /* panels decoded together, so a tile of x is read once for all four */

/* 8 vectors of 8 floats (rows r[0..7]) stored transposed: column c of them to dst + c * stride */
static inline void store_transposed8(const __m256 r[8], float *dst, int64_t stride) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_store_ps(dst + 0 * stride, _mm256_permute2f128_ps(s0, s4, 0x20));
    _mm256_store_ps(dst + 1 * stride, _mm256_permute2f128_ps(s1, s5, 0x20));
    _mm256_store_ps(dst + 2 * stride, _mm256_permute2f128_ps(s2, s6, 0x20));
    _mm256_store_ps(dst + 3 * stride, _mm256_permute2f128_ps(s3, s7, 0x20));
    _mm256_store_ps(dst + 4 * stride, _mm256_permute2f128_ps(s0, s4, 0x31));
    _mm256_store_ps(dst + 5 * stride, _mm256_permute2f128_ps(s1, s5, 0x31));
    _mm256_store_ps(dst + 6 * stride, _mm256_permute2f128_ps(s2, s6, 0x31));
    _mm256_store_ps(dst + 7 * stride, _mm256_permute2f128_ps(s3, s7, 0x31));
}

/* Weight rows [j0, j0 + rows) (rows <= PANEL; the rest of the panel is zeros), inputs [k0, k1),
 * decoded into piece[(i - k0) * PANEL + jj] = weight[j0 + jj][i]. */
static void q4_1_piece(const uint8_t *codes, const float *scale, const float *low, int64_t k, int64_t j0,
                       int64_t rows, int64_t k0, int64_t k1, float *piece) {
    const int64_t nb = k / BLOCK;
    const __m128i mask = _mm_set1_epi8(0x0F);
    float block[PANEL][BLOCK] __attribute__((aligned(32)));
    for (int64_t b = k0 / BLOCK; b < k1 / BLOCK; b++) {
        for (int64_t jj = 0; jj < PANEL; jj++) {
            if (jj >= rows) {
                memset(block[jj], 0, sizeof block[jj]);
                continue;
            }
            const int64_t j = j0 + jj;
            __m128i bytes = _mm_loadu_si128((const __m128i *)(codes + j * (k / 2) + b * 16));
            __m128i lo4 = _mm_and_si128(bytes, mask), hi4 = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
            __m128i quarter[4] = {lo4, _mm_srli_si128(lo4, 8), hi4, _mm_srli_si128(hi4, 8)};
            __m256 s = _mm256_set1_ps(scale[j * nb + b]), l = _mm256_set1_ps(low[j * nb + b]);
            for (int q = 0; q < 4; q++)
                _mm256_store_ps(block[jj] + 8 * q,
                                _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(quarter[q])), s), l));
        }
        float *dst = piece + (b * BLOCK - k0) * PANEL;
        for (int half = 0; half < PANEL / 8; half++)
            for (int q = 0; q < BLOCK / 8; q++) {
                __m256 r[8];
                for (int i = 0; i < 8; i++) r[i] = _mm256_load_ps(block[half * 8 + i] + q * 8);
                store_transposed8(r, dst + q * 8 * PANEL + half * 8, PANEL);
            }
    }
}

/* out rows orow[0..5], columns [0, cols) (+)= x rows xrow[0..5], inputs [k0, k1), times the piece of
 * those inputs.
 * Sums held in named registers: an array of them was kept in memory by the compiler. */
static void tile_6x16(const float *const xrow[TILE_ROWS], int64_t k0, int64_t k1, const float *piece,
                      float *const orow[TILE_ROWS], int64_t cols, int add) {
    const __m256 zero = _mm256_setzero_ps();
    __m256 c00 = zero, c01 = zero, c10 = zero, c11 = zero, c20 = zero, c21 = zero;
    __m256 c30 = zero, c31 = zero, c40 = zero, c41 = zero, c50 = zero, c51 = zero;
    const float *x0 = xrow[0], *x1 = xrow[1], *x2 = xrow[2], *x3 = xrow[3], *x4 = xrow[4], *x5 = xrow[5];
    const float *p = piece;
    for (int64_t i = k0; i < k1; i++, p += PANEL) {
        __m256 b0 = _mm256_load_ps(p), b1 = _mm256_load_ps(p + 8), a;
        a = _mm256_broadcast_ss(x0 + i); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(x1 + i); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(x2 + i); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(x3 + i); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(x4 + i); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(x5 + i); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    }
    __m256 sums[TILE_ROWS][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    for (int r = 0; r < TILE_ROWS; r++) {
        float *o = orow[r];
        if (cols == PANEL) {
            __m256 lo = sums[r][0], hi = sums[r][1];
            if (add) {
                lo = _mm256_add_ps(lo, _mm256_loadu_ps(o));
                hi = _mm256_add_ps(hi, _mm256_loadu_ps(o + 8));
            }
            _mm256_storeu_ps(o, lo);
            _mm256_storeu_ps(o + 8, hi);
        } else {
            float v[PANEL];
            _mm256_storeu_ps(v, sums[r][0]);
            _mm256_storeu_ps(v + 8, sums[r][1]);
            for (int64_t c = 0; c < cols; c++) o[c] = add ? o[c] + v[c] : v[c];
        }
    }
}

/* Panels [first, last) of matrix `codes` (its columns start at `column` in out, which has `total`
 * columns), for all m rows of x. */
static int long_panels(const float *x, int64_t m, int64_t k, const uint8_t *codes, const float *scale,
                       const float *low, int64_t n, int64_t column, int64_t total, float *out, int64_t first,
                       int64_t last) {
    /* Scratch of this call (about 60 KB; a thread kept between calls would be lost, with its
     * scratch, when OpenMP retires it): the decoded pieces of a group, a row of zeros that stands
     * in for x's rows past m, and a row that takes their results. */
    float *scratch = aligned_alloc(32, (size_t)(GROUP * KC * PANEL + 2 * k + PANEL) * sizeof(float));
    if (!scratch) return -1;
    float *pieces = scratch, *zeros = scratch + GROUP * KC * PANEL, *sink = zeros + k;
    memset(zeros, 0, (size_t)k * sizeof(float));
    for (int64_t g0 = first; g0 < last; g0 += GROUP) {
        const int64_t panels = last - g0 < GROUP ? last - g0 : GROUP;
        for (int64_t k0 = 0; k0 < k; k0 += KC) {
            const int64_t k1 = k - k0 < KC ? k : k0 + KC;
            for (int64_t g = 0; g < panels; g++) {
                const int64_t j0 = (g0 + g) * PANEL, rows = n - j0 < PANEL ? n - j0 : PANEL;
                q4_1_piece(codes, scale, low, k, j0, rows, k0, k1, pieces + g * KC * PANEL);
            }
            for (int64_t r0 = 0; r0 < m; r0 += TILE_ROWS) {
                const float *xrow[TILE_ROWS];
                for (int r = 0; r < TILE_ROWS; r++) xrow[r] = r0 + r < m ? x + (r0 + r) * k : zeros;
                for (int64_t g = 0; g < panels; g++) {
                    const int64_t j0 = (g0 + g) * PANEL, cols = n - j0 < PANEL ? n - j0 : PANEL;
                    float *orow[TILE_ROWS];
                    for (int r = 0; r < TILE_ROWS; r++)
                        orow[r] = r0 + r < m ? out + (r0 + r) * total + column + j0 : sink;
                    tile_6x16(xrow, k0, k1, pieces + g * KC * PANEL, orow, cols, k0 > 0);
                }
            }
        }
    }
    free(scratch);
    return 0;
}
#endif

/* whether tt_q4_1_matmul_long and tt_attention_long are built here */
int tt_long_kernel(void) {
#ifdef LONG_KERNEL
    return 1;
#else
    return 0;
#endif
}

/* out (m x N) = x (m x k) @ [w_1; ...; w_parts]^T for any m, Q4_1 matrices laid side by side as in
 * tt_q4_1_matmul_parts. Threads take contiguous runs of panels (16 output columns each), so every
 * output element is one thread's and its sums run in the same order whatever the thread count.
 * Returns -1 for what it cannot do (no AVX2 kernel here, bad sizes, no memory). */
int tt_q4_1_matmul_long(const float *x, int64_t m, int64_t k, int parts, const uint8_t *const *codes,
                        const float *const *scale, const float *const *low, const int64_t *n, float *out,
                        int threads) {
#ifdef LONG_KERNEL
    if (m < 1 || k < BLOCK || k % BLOCK || parts < 1 || parts > 8) return -1;
    int64_t column[9] = {0}, panel_start[9] = {0};
    for (int p = 0; p < parts; p++) {
        if (n[p] < 1) return -1;
        column[p + 1] = column[p] + n[p];
        panel_start[p + 1] = panel_start[p] + (n[p] + PANEL - 1) / PANEL;
    }
    const int64_t total = column[parts], panels = panel_start[parts];
    int shares = threads < 1 ? 1 : threads;
    if (shares > panels) shares = (int)panels;
    int failed = 0;
#pragma omp parallel for num_threads(shares) schedule(static, 1) reduction(| : failed) if (shares > 1)
    for (int s = 0; s < shares; s++) {
        const int64_t begin = panels * s / shares, end = panels * (s + 1) / shares;
        for (int p = 0; p < parts; p++) {
            const int64_t first = begin > panel_start[p] ? begin : panel_start[p];
            const int64_t last = end < panel_start[p + 1] ? end : panel_start[p + 1];
            if (first < last)
                failed |= long_panels(x, m, k, codes[p], scale[p], low[p], n[p], column[p], total, out,
                                      first - panel_start[p], last - panel_start[p]);
        }
    }
    return failed ? -1 : 0;
#else
    (void)x; (void)m; (void)k; (void)parts; (void)codes; (void)scale; (void)low; (void)n; (void)out; (void)threads;
    return -1;
#endif
}

/* ---- The two element-wise steps a pass calls most, beside the products -----------------------
 *
 * Why: torch runs RMSNorm as five small operations (square, mean, add, rsqrt, two multiplies) and
 * SiLU-times-up as two, each a call into its thread pool; on a 64-token analysis the 61 norms took
 * 13 ms (about 200 us each, for 37,000 numbers) and the activation 4 ms. One pass over the
 * numbers each, here. Rows are split between `threads` as the products' rows are, from 64 rows a
 * thread up. */

/* out[r] = x[r] * (1 / sqrt(mean(x[r]^2) + eps)) * w, rows of d floats; x rows `stride` apart. */
static void rms_norm_rows(const float *x, int64_t d, int64_t stride, const float *w, float eps, float *out,
                          int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
        const float *xr = x + r * stride;
        float *o = out + r * d;
        int64_t i = 0;
        float squares = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        for (; i + 16 <= d; i += 16) {
            __m256 a = _mm256_loadu_ps(xr + i), b = _mm256_loadu_ps(xr + i + 8);
            s0 = _mm256_fmadd_ps(a, a, s0);
            s1 = _mm256_fmadd_ps(b, b, s1);
        }
        squares = hsum8(_mm256_add_ps(s0, s1));
#endif
        for (; i < d; i++) squares += xr[i] * xr[i];
        const float scale = 1.0f / sqrtf(squares / (float)d + eps);
        i = 0;
#if defined(__AVX2__) && defined(__FMA__)
        const __m256 sv = _mm256_set1_ps(scale);
        for (; i + 8 <= d; i += 8)
            _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + i), sv), _mm256_loadu_ps(w + i)));
#endif
        for (; i < d; i++) o[i] = xr[i] * scale * w[i];
    }
}

/* Rows split between all `threads` or none: a team smaller than the products' makes OpenMP retire
 * threads and start them again for the next product. */
#define SPLIT_ROWS_ALL_OR_ONE(threads, m, CALL)                                                  \
    do {                                                                                         \
        const int parts_ = (m) >= 2 * MIN_ROWS_PER_THREAD && (threads) > 1 ? (threads) : 1;     \
        if (parts_ == 1) {                                                                       \
            const int64_t begin = 0, end = (m);                                                  \
            CALL;                                                                                \
        } else {                                                                                 \
            _Pragma("omp parallel for num_threads(parts_) schedule(static, 1)")                \
            for (int part = 0; part < parts_; part++) {                                          \
                const int64_t begin = (m) * part / parts_, end = (m) * (part + 1) / parts_;      \
                CALL;                                                                            \
            }                                                                                    \
        }                                                                                        \
    } while (0)

int tt_rms_norm(const float *x, int64_t m, int64_t d, int64_t stride, const float *w, float eps, float *out,
                int threads) {
    if (m < 1 || d < 1 || stride < 0) return -1; /* rows are only read: any stride (0: one row repeated) */
    SPLIT_ROWS_ALL_OR_ONE(threads, m, rms_norm_rows(x, d, stride, w, eps, out, begin, end));
    return 0;
}

#if defined(__AVX2__) && defined(__FMA__)
/* e^x for 8 floats: x = n ln2 + r, e^r by a degree-5 polynomial (Cephes' expf, as in most
 * SIMD libraries; within 2 ulp of the exact value for x in [-87.3, 88.4], the input clamped to it).
 * The bound is max's and min's first operand: where one operand is NaN they return the second, so
 * a NaN stays NaN (as torch's e^x keeps it) instead of becoming a bound. */
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.3762f), _mm256_max_ps(_mm256_set1_ps(-87.3365f), x));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#endif

/* Below this silu(x) = x e^x / (1 + e^x) is under 1e-36: 0 here (torch gives -0, or NaN at -inf
 * where e^-x overflows; `exp8` clamps its input instead of overflowing). */
#define SILU_ZERO_BELOW -87.0f

/* out[r] = silu(gate[r]) * up[r] = gate / (1 + e^-gate) * up, rows of f; gate and up rows `stride` apart */
static void silu_mul_rows(const float *gate, const float *up, int64_t f, int64_t stride, float *out,
                          int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; r++) {
        const float *g = gate + r * stride, *u = up + r * stride;
        float *o = out + r * f;
        int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
        const __m256 one = _mm256_set1_ps(1.0f);
        const __m256 tiny = _mm256_set1_ps(SILU_ZERO_BELOW);
        for (; i + 8 <= f; i += 8) {
            __m256 gv = _mm256_loadu_ps(g + i);
            __m256 sig = _mm256_div_ps(gv, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv))));
            sig = _mm256_blendv_ps(sig, _mm256_setzero_ps(), _mm256_cmp_ps(gv, tiny, _CMP_LT_OQ));
            _mm256_storeu_ps(o + i, _mm256_mul_ps(sig, _mm256_loadu_ps(u + i)));
        }
#endif
        for (; i < f; i++) o[i] = (g[i] < SILU_ZERO_BELOW ? 0.0f : g[i] / (1.0f + expf(-g[i]))) * u[i];
    }
}

int tt_silu_mul(const float *gate, const float *up, int64_t m, int64_t f, int64_t stride, float *out, int threads) {
    if (m < 1 || f < 1 || stride < 0) return -1;
    SPLIT_ROWS_ALL_OR_ONE(threads, m, silu_mul_rows(gate, up, f, stride, out, begin, end));
    return 0;
}

/* ---- Attention of a few new tokens (generation, typing) --------------------------------------
 *
 * Why: for one generated token a layer's attention is tiny arithmetic (9 heads x ~100 keys x 64),
 * but torch runs it as about a dozen operations (two batched products, the scale, the softmax,
 * views and copies), each with its own call overhead: 100-150 us a layer, 3-4 ms of a ~30 ms
 * token. Here it is one call. Grouped: query head hh reads key/value head hh / (h / g). Causal:
 * query i of n (the new tokens are the last n of the n_k keys) sees keys 0 .. n_k - n + i; the
 * others get weight 0, as a softmax of -inf gives. Sums in float32 in another order than torch's
 * (e^x by `exp8`'s polynomial on AVX2): float32 rounding. One thread: the work is small. */
static float dot_any(const float *a, const float *b, int64_t d) {
#if defined(__AVX2__) && defined(__FMA__)
    return hsum8(dot_vector8(a, b, d));
#else
    float total = 0.0f;
    for (int64_t i = 0; i < d; i++) total += a[i] * b[i];
    return total;
#endif
}

/* e^(row[j] - top) in place for j < count; returns their sum */
static float exp_shifted(float *row, int64_t count, float top) {
    int64_t j = 0;
    float sum = 0.0f;
#if defined(__AVX2__) && defined(__FMA__)
    const __m256 t = _mm256_set1_ps(top);
    __m256 s = _mm256_setzero_ps();
    for (; j + 8 <= count; j += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + j), t));
        _mm256_storeu_ps(row + j, e);
        s = _mm256_add_ps(s, e);
    }
    sum = hsum8(s);
#endif
    for (; j < count; j++) {
        row[j] = expf(row[j] - top);
        sum += row[j];
    }
    return sum;
}

/* q: h heads x n rows x dh (element [hh][i][c] at q + hh * q_head + i * q_row + c); k, v: g heads x
 * n_k rows x dh, likewise with their own strides. pattern (h, n, n_k) and z (h, n, dh): contiguous. */
int tt_attention(const float *q, int64_t h, int64_t n, int64_t dh, int64_t q_head, int64_t q_row,
                 const float *k, const float *v, int64_t g, int64_t n_k, int64_t kv_head, int64_t kv_row,
                 int causal, float scale, float *pattern, float *z) {
    if (h < 1 || g < 1 || h % g || n < 1 || n_k < n || dh < 1) return -1;
    const int64_t group = h / g;
    for (int64_t hh = 0; hh < h; hh++) {
        const float *kh = k + (hh / group) * kv_head, *vh = v + (hh / group) * kv_head;
        for (int64_t i = 0; i < n; i++) {
            const float *qi = q + hh * q_head + i * q_row;
            float *row = pattern + (hh * n + i) * n_k, *zi = z + (hh * n + i) * dh;
            const int64_t seen = causal ? n_k - n + i + 1 : n_k;
            float top = -INFINITY;
            for (int64_t j = 0; j < seen; j++) {
                row[j] = dot_any(qi, kh + j * kv_row, dh) * scale;
                if (row[j] > top) top = row[j];
            }
            const float inverse = 1.0f / exp_shifted(row, seen, top);
            for (int64_t j = seen; j < n_k; j++) row[j] = 0.0f;
            for (int64_t c = 0; c < dh; c++) zi[c] = 0.0f;
            for (int64_t j = 0; j < seen; j++) {
                const float p = row[j] *= inverse;
                const float *vj = vh + j * kv_row;
                int64_t c = 0;
#if defined(__AVX2__) && defined(__FMA__)
                const __m256 pv = _mm256_set1_ps(p);
                for (; c + 8 <= dh; c += 8)
                    _mm256_storeu_ps(zi + c, _mm256_fmadd_ps(pv, _mm256_loadu_ps(vj + c), _mm256_loadu_ps(zi + c)));
#endif
                for (; c < dh; c++) zi[c] += p * vj[c];
            }
        }
    }
    return 0;
}

/* ---- Attention of a long pass (analysis) -----------------------------------------------------
 *
 * Why: torch computes every score of a causal pass, the future's too, then masks them, so half of
 * both batched products is thrown away; and the scores, the mask, the softmax and the weights' uses
 * are separate passes over h x n x n_k numbers (a 256-token pass: 63 ms of batched products and
 * 18 ms of mask and softmax). Here a tile of 6 query rows of one head computes the scores of only
 * the keys its rows may see, 16 keys at a time in the long product's 6x16 register tile, turns
 * them into weights while they are in cache, and multiplies them by V likewise. K (as dh x 16
 * panels) and V (as n_k x 16 panels) are packed once per key/value head. Tiles are handed out
 * longest first (the last rows see the most keys). Sums in float32 in another order than torch's,
 * e^x by `exp8`: float32 rounding. Every number of the pattern and z is one thread's, computed in
 * the same order whatever the thread count. */
#ifdef LONG_KERNEL
/* src's numbers [a][b] (at src + a * a_stride + b * b_stride, a < along, b < across) as panels of 16
 * a's, each `across` rows of 16: [a / 16][b][a % 16], zeros past `along`. Keys: a = key, b = its
 * number (dh x 16 panels, for the scores); values: a = v's column, b = key (n_k x 16 panels, for z). */
static void pack_panels(const float *src, int64_t along, int64_t a_stride, int64_t across, int64_t b_stride,
                        float *dst) {
    const int64_t panels = (along + PANEL - 1) / PANEL;
    for (int64_t p = 0; p < panels; p++)
        for (int64_t b = 0; b < across; b++)
            for (int64_t i = 0; i < PANEL; i++) {
                const int64_t a = p * PANEL + i;
                dst[(p * across + b) * PANEL + i] = a < along ? src[a * a_stride + b * b_stride] : 0.0f;
            }
}

/* row[0..seen) <- softmax(row * scale), row[seen..n_k) <- 0 */
static void softmax_row(float *row, int64_t seen, int64_t n_k, float scale) {
    float top = -INFINITY;
    int64_t j = 0;
    const __m256 s = _mm256_set1_ps(scale);
    __m256 best = _mm256_set1_ps(-INFINITY);
    for (; j + 8 <= seen; j += 8) {
        const __m256 x = _mm256_mul_ps(_mm256_loadu_ps(row + j), s);
        _mm256_storeu_ps(row + j, x);
        best = _mm256_max_ps(best, x);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, best);
    for (int i = 0; i < 8; i++) top = lanes[i] > top ? lanes[i] : top;
    for (; j < seen; j++) {
        row[j] *= scale;
        top = row[j] > top ? row[j] : top;
    }
    const float inverse = 1.0f / exp_shifted(row, seen, top);
    const __m256 inv = _mm256_set1_ps(inverse);
    for (j = 0; j + 8 <= seen; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inv));
    for (; j < seen; j++) row[j] *= inverse;
    for (j = seen; j < n_k; j++) row[j] = 0.0f;
}
#endif

/* tt_attention's arguments for any n (the new tokens the last n of the n_k keys), on `threads`
 * threads. Returns -1 for what it cannot do (no AVX2 kernel here, bad sizes, no memory). */
int tt_attention_long(const float *q, int64_t h, int64_t n, int64_t dh, int64_t q_head, int64_t q_row,
                      const float *k, const float *v, int64_t g, int64_t n_k, int64_t kv_head, int64_t kv_row,
                      int causal, float scale, float *pattern, float *z, int threads) {
#ifdef LONG_KERNEL
    if (h < 1 || g < 1 || h % g || n < 1 || n_k < n || dh < 1) return -1;
    const int64_t group = h / g, key_panels = (n_k + PANEL - 1) / PANEL, value_panels = (dh + PANEL - 1) / PANEL;
    const int64_t key_size = key_panels * dh * PANEL, value_size = value_panels * n_k * PANEL;
    /* rounded up to whole panels: aligned_alloc wants a size that is a multiple of the alignment */
    const int64_t zeros_size = ((n_k > dh ? n_k : dh) + PANEL - 1) / PANEL * PANEL;
    /* the packed K and V of every key/value head, and a row of zeros that stands in for q's rows
     * (dh numbers) and the pattern's rows (up to n_k) past n */
    float *scratch = aligned_alloc(32, (size_t)(g * (key_size + value_size) + zeros_size) * sizeof(float));
    if (!scratch) return -1;
    float *keys = scratch, *values = scratch + g * key_size, *zeros = values + g * value_size;
    memset(zeros, 0, (size_t)zeros_size * sizeof(float));
    const int64_t tiles = (n + TILE_ROWS - 1) / TILE_ROWS, items = h * tiles;
    int shares = threads < 1 ? 1 : threads;
    if (shares > items) shares = (int)items;
#pragma omp parallel num_threads(shares) if (shares > 1)
    {
        float sink[PANEL];
#pragma omp for schedule(static)
        for (int64_t kv = 0; kv < g; kv++) {
            pack_panels(k + kv * kv_head, n_k, kv_row, dh, 1, keys + kv * key_size);
            pack_panels(v + kv * kv_head, dh, 1, n_k, kv_row, values + kv * value_size);
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t item = 0; item < items; item++) {
            const int64_t tile = tiles - 1 - item / h, hh = item % h, r0 = tile * TILE_ROWS, kv = hh / group;
            const int64_t last = r0 + TILE_ROWS < n ? r0 + TILE_ROWS : n;   /* rows r0 .. last - 1 */
            const int64_t seen_most = causal ? n_k - n + last : n_k;
            const float *xrow[TILE_ROWS];
            float *orow[TILE_ROWS];
            for (int r = 0; r < TILE_ROWS; r++)
                xrow[r] = r0 + r < n ? q + hh * q_head + (r0 + r) * q_row : zeros;
            for (int64_t p = 0; p * PANEL < seen_most; p++) {
                const int64_t cols = n_k - p * PANEL < PANEL ? n_k - p * PANEL : PANEL;
                for (int r = 0; r < TILE_ROWS; r++)
                    orow[r] = r0 + r < n ? pattern + (hh * n + r0 + r) * n_k + p * PANEL : sink;
                tile_6x16(xrow, 0, dh, keys + kv * key_size + p * dh * PANEL, orow, cols, 0);
            }
            for (int64_t r = r0; r < last; r++)
                softmax_row(pattern + (hh * n + r) * n_k, causal ? n_k - n + r + 1 : n_k, n_k, scale);
            for (int r = 0; r < TILE_ROWS; r++)
                xrow[r] = r0 + r < n ? pattern + (hh * n + r0 + r) * n_k : zeros;
            for (int64_t c = 0; c < value_panels; c++) {
                const int64_t cols = dh - c * PANEL < PANEL ? dh - c * PANEL : PANEL;
                for (int r = 0; r < TILE_ROWS; r++)
                    orow[r] = r0 + r < n ? z + (hh * n + r0 + r) * dh + c * PANEL : sink;
                tile_6x16(xrow, 0, seen_most, values + (kv * value_panels + c) * n_k * PANEL, orow, cols, 0);
            }
        }
    }
    free(scratch);
    return 0;
#else
    (void)q; (void)h; (void)n; (void)dh; (void)q_head; (void)q_row; (void)k; (void)v; (void)g; (void)n_k;
    (void)kv_head; (void)kv_row; (void)causal; (void)scale; (void)pattern; (void)z; (void)threads;
    return -1;
#endif
}
