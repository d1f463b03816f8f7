// Head roles, measured: GET /api/heads scores every head on fixed probes (model/head_probes.py),
// GET /api/heads/probe shows one head on the induction probe's repeated random tokens. Every
// head the page names, and every mark on the grid, comes from these answers.

import { api, el } from "../api.js";
import { drawAttentionHeatmap } from "./heatmap.js";

export const ROLE_NAMES = {
  induction: "induction head", previous_token: "previous-token head", first_token: "first-token head",
};
const ROLE_DOES = {
  induction: "on text that repeats, each token looks at the token that came after it last time",
  previous_token: "each token looks at the token just before it",
  first_token: "most of its weight goes to the first token (an attention sink)",
};
export const ROLE_MARKS = { induction: { letter: "I", colour: "#d9682b" }, previous_token: { letter: "P", colour: "#1f8a5b" } };

const pct = (x) => `${Math.round(x * 100)}%`;

export class HeadRoles {
  constructor(body) {
    this.probes = body.probes;
    this.heads = body.heads;
    this.byKey = new Map(body.heads.map((h) => [`${h.layer}.${h.head}`, h]));
  }

  get(layer, head) { return this.byKey.get(`${layer}.${head}`) ?? null; }

  /** The heads with `role`, strongest first (by the score of that role). */
  named(role) {
    return this.heads.filter((h) => h.role === role).sort((a, b) => b.scores[role] - a.scores[role]);
  }

  /** "layer.head" -> role, for the grid's marks. */
  marks() { return new Map(this.heads.filter((h) => ROLE_MARKS[h.role]).map((h) => [`${h.layer}.${h.head}`, h.role])); }
}

export const fetchRoles = async () => new HeadRoles(await api("/api/heads"));

/** The "heads worth a look" list: the strongest heads of each role, as measured. */
export function drawWorth(node, roles, onOpen) {
  node.replaceChildren();
  const picks = [["induction", 3], ["previous_token", 2], ["first_token", 1]];
  for (const [role, count] of picks) {
    // The first-token example is the clearest one: the most weight on the first token with the
    // least of anything else (the strongest first-token heads can be near-misses of another role).
    const clearest = (h) => h.scores.first_token - Math.max(h.scores.induction, h.scores.previous_token);
    const ranked = role === "first_token" ? roles.named(role).sort((a, b) => clearest(b) - clearest(a)) : roles.named(role);
    const heads = ranked.slice(0, count);
    if (!heads.length) continue;
    const row = el("p", { cls: "worth-row" });
    for (const h of heads) {
      const b = el("button", { cls: "secondary small", text: `Layer ${h.layer} · head ${h.head}`,
        title: `${ROLE_NAMES[role]}: ${role.replace("_", "-")} score ${h.scores[role].toFixed(2)}`,
        attrs: { type: "button", "data-role": role, "data-head": `${h.layer}.${h.head}` } });
      b.addEventListener("click", () => onOpen(h));
      row.append(b, " ");
    }
    const all = roles.named(role).length;
    if (role === "first_token") {
      row.append(`a clear `, el("strong", { text: ROLE_NAMES[role] }), ` (one of ${all}): ${ROLE_DOES[role]}.`);
    } else {
      row.append(el("strong", { text: all > 1 ? `${ROLE_NAMES[role]}s` : ROLE_NAMES[role] }),
        ` (the ${Math.min(all, count) === all ? "" : `strongest ${heads.length} of the `}${all} in the model): ${ROLE_DOES[role]}.`);
    }
    node.append(row);
  }
}

/** One line about the shown head's measured role, for the facts beside the heatmap. */
export function roleFacts(head, probes) {
  const s = head.scores;
  const scores = `previous-token ${s.previous_token.toFixed(2)}, induction ${s.induction.toFixed(2)}, `
    + `first-token ${s.first_token.toFixed(2)}`;
  const what = head.role ? [el("strong", { text: `${/^[aeiou]/.test(ROLE_NAMES[head.role]) ? "an" : "a"} ${ROLE_NAMES[head.role]}` }), `: ${ROLE_DOES[head.role]}`]
    : [el("strong", { text: "no role stands out" }), " (no score reaches its threshold)"];
  const line = el("span", { cls: "role-facts" }, ["Measured on fixed probes, not on your text, this head is ", ...what,
    ` (scores: ${scores}).`]);
  line.title = Object.values(probes).join(" ");
  return line;
}

/** "How the roles are measured": the API's one sentence per probe. */
export function drawProbeDefinitions(node, roles) {
  node.replaceChildren(...Object.entries(roles.probes).map(([name, sentence]) =>
    el("li", {}, [el("strong", { text: `${name.replace("_", "-")}: ` }), sentence])));
}

export const probePath = (layer, head, sequence) => `/api/heads/probe?layer=${layer}&head=${head}&sequence=${sequence}`;

/** Draw a GET /api/heads/probe answer: the repeated random tokens, with the induction stripe outlined. */
export function drawProbe(nodes, body) {
  const { layer, head, period: R } = body;
  const stripe = Array.from({ length: R }, (_, k) => [R + k, k + 1]);
  nodes.view.hidden = false;
  drawAttentionHeatmap(nodes.heatmap, body.tokens, body.weights,
    { title: `Layer ${layer} · head ${head} on the induction probe`, outline: stripe });
  nodes.heatmap.dataset.layer = String(layer);
  nodes.heatmap.dataset.head = String(head);
  nodes.heatmap.dataset.sequence = String(body.sequence);
  const role = body.role ? `its measured role: ${ROLE_NAMES[body.role]}` : "no measured role stands out";
  nodes.caption.replaceChildren(
    el("strong", { text: "The induction probe. " }),
    `${R} random word tokens, then the same ${R} again, with nothing in front (sequence ${body.sequence + 1} of `
    + `${body.n_sequences}). Nothing in the first copy can be guessed; in the second, every next token can, by `
    + "finding the current token's first appearance and reading the token after it. A head that does that lights "
    + `up the cells outlined in orange, ${R - 1} columns left of the diagonal. On this sequence layer ${layer} · head ${head} `
    + "puts ", el("strong", { text: pct(body.score) }), " of each second-copy token's weight there on average; over all "
    + `${body.n_sequences} sequences (its induction score) `, el("strong", { text: pct(body.induction) }), `: ${role}.`);
}
