// Decoder for POST /api/attention/all: every head's causal pattern, one byte per weight,
// lower triangle only, base64. Weight (layer, head, query i, key j <= i) is byte
// (layer * nHeads + head) * n(n+1)/2 + i(i+1)/2 + j, times `scale` (1/255).

/** Decode the response into an object with weight(), head() and layerAverage() accessors. */
export function decodeAllHeads(body) {
  const binary = atob(body.data);
  const bytes = new Uint8Array(binary.length);
  for (let k = 0; k < binary.length; k++) bytes[k] = binary.charCodeAt(k);
  const n = body.tokens.length;
  const tri = (n * (n + 1)) / 2;
  const { n_layers: nLayers, n_heads: nHeads, scale } = body;
  if (bytes.length !== nLayers * nHeads * tri) {
    throw new Error(`attention data has ${bytes.length} bytes; expected ${nLayers * nHeads * tri}`);
  }
  const base = (layer, head) => (layer * nHeads + head) * tri;
  const weight = (layer, head, i, j) => (j > i ? 0 : bytes[base(layer, head) + (i * (i + 1)) / 2 + j] * scale);

  /** n x n Float32Array rows of one head (zeros above the diagonal). */
  function head(layer, head) {
    const rows = [];
    const start = base(layer, head);
    for (let i = 0; i < n; i++) {
      const row = new Float32Array(n);
      const offset = start + (i * (i + 1)) / 2;
      for (let j = 0; j <= i; j++) row[j] = bytes[offset + j] * scale;
      rows.push(row);
    }
    return rows;
  }

  // The server's mean of each layer's heads (exact weights, then one byte each), one pattern per layer.
  const averages = Uint8Array.from(atob(body.layer_averages), (c) => c.charCodeAt(0));

  /** The mean of a layer's heads, n x n (as the server computed it). */
  function layerAverage(layer) {
    const rows = [];
    for (let i = 0; i < n; i++) {
      const row = new Float32Array(n);
      const offset = layer * tri + (i * (i + 1)) / 2;
      for (let j = 0; j <= i; j++) row[j] = averages[offset + j] * scale;
      rows.push(row);
    }
    return rows;
  }

  /** Average weight that queries 1..n-1 put on the first token, over every head (the server's). */
  const sinkShare = () => body.first_token_share;

  return { n, nLayers, nHeads, kvHeadOf: body.kv_head_of, maxError: body.max_error,
    bytes: bytes.length, weight, head, layerAverage, sinkShare };
}

/**
 * How much two patterns look at the same tokens: mean over rows of sum_j min(a_ij, b_ij), in 0..1.
 * Row 0 is left out: the first token can only look at itself, so it is identical in every head and
 * would pull every overlap towards 1 (by 1/n: 0.08 for a 12-token text). A one-token text has no
 * other row and gives 1.
 */
export function overlap(a, b) {
  if (a.length < 2) return 1;
  let total = 0;
  for (let i = 1; i < a.length; i++) {
    let row = 0;
    for (let j = 0; j <= i; j++) row += Math.min(a[i][j], b[i][j]);
    total += row;
  }
  return total / (a.length - 1);
}
