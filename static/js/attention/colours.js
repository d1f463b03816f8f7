// One colour scale for every attention picture (plotly heatmaps and canvas thumbnails alike).
// Stops are bunched towards 0 so that weights of a few percent still show next to a token
// that takes 90%; the colour bar keeps the true values.

export const STOPS = [
  [0, [255, 255, 255]], [0.03, [222, 230, 247]], [0.12, [158, 186, 232]],
  [0.35, [84, 121, 207]], [0.7, [42, 60, 160]], [1, [20, 24, 82]],
];

export const plotlyScale = STOPS.map(([v, [r, g, b]]) => [v, `rgb(${r},${g},${b})`]);

/** [r, g, b] for a weight in 0..1. */
export function rgb(w) {
  const v = Math.max(0, Math.min(1, w));
  for (let k = 1; k < STOPS.length; k++) {
    const [v1, c1] = STOPS[k];
    if (v <= v1) {
      const [v0, c0] = STOPS[k - 1];
      const t = (v - v0) / (v1 - v0);
      return c0.map((c, i) => Math.round(c + t * (c1[i] - c)));
    }
  }
  return STOPS[STOPS.length - 1][1];
}

/** Sentence colours for the comparison (also used for their text chips). */
export const SENTENCE_COLOURS = ["#4453c7", "#d9682b", "#1f8a5b", "#a23bb0"];
