"""The report of `bench.quality`: quality.md's tables and the one-table summary's figures.

`results` is the dict `bench.quality.run` returns (and writes as quality.json).
"""

from __future__ import annotations

def out_of_domain(results: dict) -> dict:
    """MAP of each dataset's fine-tunes (and merges) on the other datasets' dev sets, from their gates
    (the gate's MAP is mteb's map_at_1000; tests/test_gate_runs.py checks it)."""
    ood: dict = {}
    for src, entry in results["datasets"].items():
        models = {label.removeprefix("fine-tuned "): m.get("gate", {}) for label, m in entry["models"].items()}
        models.update({f"{label} merged": m.get("gate", {}) for label, m in entry.get("merged", {}).items()})
        for label, gate in models.items():
            for g in gate.get("general", []):
                row = ood.setdefault(f"{src}-trained on {g['name']}", {"base bi-encoder": g["base"]})
                row[label] = {"map": g["fine_tuned"], "delta": g["delta"], "ci": g["ci"], "verdict": g["verdict"]}
    return ood


def _when(prov: dict | None) -> str:
    if not prov:
        return ""
    when = prov["measured_at"].replace("T", " ").removesuffix("Z")
    return "now" if prov["status"] == "measured now" else f"reused (measured {when} UTC)"


def _gate_text(gate: dict) -> str:
    """'improved (+0.041 [+0.012, +0.070]); scifact-dev: forgot (-0.250 [...])'."""
    if not gate:
        return ""
    def one(g: dict) -> str:
        ci = f" [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]" if g.get("ci") else ""
        return f"{g['delta']:+.3f}{ci}" if g.get("delta") is not None else ""
    def said(verdict: str, g: dict) -> str:
        return f"{verdict} ({one(g)})" if one(g) else verdict
    return "; ".join([said(gate["verdict"], gate)] + [said(f"{g['name']}: {g['verdict']}", g)
                                                      for g in gate.get("general", [])])


def _curve(title: str, m: dict) -> list[str]:
    """The `merge --auto` search of one merge row: MAP per fine-tune weight, in domain and per general set."""
    sets = sorted({k for pt in m["curve"] for k in pt["general"]})
    lines = [f"*merge --auto curve, {title}* (fine-tune weight w, base 1 - w; {m['reason']})", "",
             "| w | in-domain MAP | " + " | ".join(sets) + " |", "|---" * (len(sets) + 2) + "|"]
    lines += [f"| {pt['weight']:.2f} | {pt['in_domain']:.3f} | " + " | ".join(
        f"{pt['general'].get(k, float('nan')):.3f}" for k in sets) + " |" for pt in m["curve"]]
    return lines + [""]


def _from_reranker(name: str, label: str, r: dict) -> list[str]:
    """A fine-tune whose base is a reranker (bench.quality.FROM_RERANKER): base, fine-tune, merge."""
    ft, mg = r["fine_tuned"], r["merged"]
    lines = [f"*{name}: {label}* (base: the {r['base']}, a stand-in for a general reranker; its gate and "
             "merge compare against that reranker)", "",
             "| model | MAP | MRR@10 | NDCG@10 | training | gate: in domain (Δ, 95% CI); general sets | measured |",
             "|---|---|---|---|---|---|---|",
             f"| base: {r['base']} | {r['base_scores']['map']:.3f} | {r['base_scores']['mrr_at_10']:.3f} | "
             f"{r['base_scores']['ndcg_at_10']:.3f} | | | {_when(r['base_scores'].get('provenance'))} |",
             f"| fine-tuned | {ft['map']:.3f} | {ft['mrr_at_10']:.3f} | {ft['ndcg_at_10']:.3f} | "
             f"{ft['steps']} steps, {ft['train_wall_s']} s | {_gate_text(ft.get('gate', {}))} | {_when(ft.get('trained'))} |",
             f"| merge --auto (w={mg['weight']:.2f}) | {mg['map']:.3f} | {mg['mrr_at_10']:.3f} | {mg['ndcg_at_10']:.3f} | "
             f"merge {mg['merge_wall_s']} s | {_gate_text(mg.get('gate', {}))} | {_when(mg.get('merged'))} |", ""]
    return lines + _curve(f"{name} {label}", mg)


def markdown(results: dict) -> str:
    lines = [f"Setting: {results['setting']}.", ""]
    for name, entry in results["datasets"].items():
        lines += [f"**{name} dev** ({entry['dev_queries']} queries, {entry['candidates_per_query']} candidates/query; "
                  f"general-domain sets of the gate: {', '.join(entry.get('general_sets', [])) or 'none'})", "",
                  "| model | MAP | MRR@10 | NDCG@10 | training | gate: in domain (Δ, 95% CI); general sets | measured |",
                  "|---|---|---|---|---|---|---|"]
        for model, m in entry["models"].items():
            train = f"{m['steps']} steps, {m['train_wall_s']} s" if m.get("steps") is not None else ""
            when = _when(m.get("trained")) if m.get("trained") else _when(m.get("provenance"))
            lines.append(f"| {model} | {m['map']:.3f} | {m['mrr_at_10']:.3f} | {m['ndcg_at_10']:.3f} | {train} | "
                         f"{_gate_text(m.get('gate', {}))} | {when} |")
        for label, m in entry.get("merged", {}).items():
            lines.append(f"| merge --auto {label} (w={m['weight']:.2f}) | {m['map']:.3f} | {m['mrr_at_10']:.3f} | "
                         f"{m['ndcg_at_10']:.3f} | merge {m['merge_wall_s']} s | {_gate_text(m.get('gate', {}))} | "
                         f"{_when(m.get('merged'))} |")
        lines.append("")
        for label, m in entry.get("merged", {}).items():
            lines += _curve(f"{name} {label}", m)
        for label, r in entry.get("from_reranker", {}).items():
            lines += _from_reranker(name, label, r)
    if results.get("out_of_domain_map"):
        lines += ["**Out of domain (MAP, from the gates' general-domain checks)**", "",
                  "| trained on -> evaluated on | base | model | MAP | Δ (95% CI) | verdict |", "|---|---|---|---|---|---|"]
        for key, row in results["out_of_domain_map"].items():
            for label, g in ((k, v) for k, v in row.items() if k != "base bi-encoder"):
                ci = f" [{g['ci'][0]:+.3f}, {g['ci'][1]:+.3f}]" if g.get("ci") else ""
                lines.append(f"| {key} | {row['base bi-encoder']:.3f} | {label} | {g['map']:.3f} | {g['delta']:+.3f}{ci} | {g['verdict']} |")
        lines.append("")
    if results.get("rows"):
        lines += ["**Rows** (reused only when parameters, data, code and library versions are unchanged)", "",
                  "| row | status | measured at | seconds |", "|---|---|---|---|"]
        lines += [f"| {r['row']} | {r['status']} | {r['measured_at']} | {r['seconds']} |" for r in results["rows"]]
    return "\n".join(lines) + "\n"


def headline(result: dict) -> list[dict]:
    """The figures for the one-table summary (see bench/__main__.py): MAP against the base bi-encoder."""
    rows = []
    for name, entry in result["datasets"].items():
        models = entry["models"]
        base = models["base bi-encoder"]["map"]
        for label, m in models.items():
            if not label.startswith("fine-tuned"):
                continue
            gate = m.get("gate", {}).get("verdict", "")
            trained = m.get("trained") or {}
            when = f"; trained {trained['measured_at']}, reused" if trained.get("status") == "reused" else ""
            rows.append({"figure": f"{name} dev MAP, {label.removeprefix('fine-tuned ')} "
                                   f"({m.get('steps')} steps, {m.get('train_wall_s')} s; gate: {gate}{when})",
                         "ours": f"{m['map']:.3f}", "baseline": f"base bi-encoder: {base:.3f} (BM25 {models['bm25']['map']:.3f})",
                         "ratio": round(m["map"] / base, 3), "goal": "> 1 (AutoTrain)" if "autotrain" in label else "",
                         "met": (m["map"] > base) if "autotrain" in label else None})
        for label, m in entry.get("merged", {}).items():
            rows.append({"figure": f"{name} dev MAP, merge --auto {label} (w={m['weight']:.2f}; gate: "
                                   f"{m.get('gate', {}).get('verdict', '')})",
                         "ours": f"{m['map']:.3f}", "baseline": f"base bi-encoder: {base:.3f}",
                         "ratio": round(m["map"] / base, 3), "goal": "", "met": None})
        for label, r in entry.get("from_reranker", {}).items():
            rows += _from_reranker_headline(name, label, r)
    for key, row in result.get("out_of_domain_map", {}).items():
        for label, g in ((k, v) for k, v in row.items() if k != "base bi-encoder"):
            rows.append({"figure": f"out of domain: {key}, {label} MAP (general check: {g['verdict']})",
                         "ours": f"{g['map']:.3f}", "baseline": f"base bi-encoder: {row['base bi-encoder']:.3f}",
                         "ratio": round(g["map"] / row["base bi-encoder"], 3), "goal": "", "met": None})
    return rows


def _from_reranker_headline(name: str, label: str, r: dict) -> list[dict]:
    """Issue #9's merge bar, on a reranker base: in domain >= 0.40 and scifact dev >= 0.55 after merge --auto."""
    mg, base = r["merged"], r["base_scores"]["map"]
    said = f"w={mg['weight']:.2f}; gate: {mg.get('gate', {}).get('verdict', '')}"
    rows = [{"figure": f"{name} dev MAP, merge --auto {label} ({said})", "ours": f"{mg['map']:.3f}",
             "baseline": f"{r['base']}: {base:.3f}", "ratio": round(mg["map"] / base, 3), "goal": ">= 0.40 MAP",
             "met": mg["map"] >= 0.40}]
    for g in mg.get("gate", {}).get("general", []):
        bar = "scifact" in g["name"]
        rows.append({"figure": f"{g['name']} MAP after merge --auto, {name} {label} (general check: {g['verdict']})",
                     "ours": f"{g['fine_tuned']:.3f}", "baseline": f"{r['base']}: {g['base']:.3f}",
                     "ratio": round(g["fine_tuned"] / g["base"], 3), "goal": ">= 0.55 MAP" if bar else "",
                     "met": g["fine_tuned"] >= 0.55 if bar else None})
    return rows
