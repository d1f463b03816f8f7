// Plotly, loaded when a chart is about to be drawn rather than as a render-blocking script: the
// 2-D charts use a plotly.js bundle with only scatter, bar and heatmap (tools/build_plotly_2d.sh); 3-D (scatter3d,
// /embeddings) and any other trace type use the full bundle, fetched only when asked for. The paths
// come from the page's markup (<body data-plotly data-plotly-full>, written by base.html), so the
// versioned file names live in one place (app/assets.py).

const bundles = new Map();  // src -> Promise<Plotly>
let full = null;            // the full bundle, once loaded: from then on every chart uses it

function inject(src) {
  if (!bundles.has(src)) {
    bundles.set(src, new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.async = true;
      performance.mark(`kit:plotly-asked ${src}`);
      script.onload = () => {
        performance.mark(`kit:plotly ${src}`);  // for benchmarks/bench_first_visit.py's breakdown
        return window.Plotly ? resolve(window.Plotly) : reject(new Error(`${src} did not define Plotly`));
      };
      script.onerror = () => {
        bundles.delete(src);  // a later call may try again (e.g. the server was restarting)
        reject(new Error("The charting code could not be loaded; reload the page to try again."));
      };
      document.head.append(script);
    }));
  }
  return bundles.get(src);
}

/** Promise<Plotly> for 2-D charts (scatter, bar, heatmap: no other trace type). Loads the
 *  partial bundle once; resolves to the full bundle instead when that is already loaded (so a page
 *  never mixes two Plotly copies). */
export function plotly() {
  return full || inject(document.body.dataset.plotly);
}

/** Promise<Plotly> with every trace type (scatter3d, waterfall, ...): the full bundle, loaded the
 *  first time this is called. Call it only where such a chart is drawn; after it, `plotly()`
 *  answers the same full bundle. */
export function plotly3d() {
  if (!full) {
    // Once run, the full bundle is window.Plotly (it replaces a partial one loaded before it).
    full = inject(document.body.dataset.plotlyFull).catch((error) => { full = null; throw error; });
  }
  return full;
}

/** True on screens without hover (phones, tablets): instructions say "tap", and Plotly's toolbar,
 *  which a touch screen shows all the time over the chart's top right, is left out. */
export const isTouch = typeof matchMedia === "function" && matchMedia("(hover: none), (pointer: coarse)").matches;

/** Plotly defaults shared by every chart: no logo, responsive, no lasso/select; on touch screens no
 *  toolbar at all (it would sit over the title and legend; a double tap still resets a zoom). */
export const plotConfig = {
  displaylogo: false, responsive: true,
  modeBarButtonsToRemove: ["lasso2d", "select2d", "autoScale2d"],
  ...(isTouch ? { displayModeBar: false } : {}),
};

/** A layout with the site's font and transparent background; `extra` wins. */
export const plotLayout = (extra = {}) => ({
  margin: { l: 60, r: 20, t: 30, b: 50 },
  font: { family: "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', sans-serif", size: 13, color: "#1d2130" },
  paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
  ...extra,
});

/** True when `node` is phone-narrow (charts then use smaller margins and fonts). */
export const isNarrow = (node) => (node?.clientWidth || window.innerWidth) < 520;
