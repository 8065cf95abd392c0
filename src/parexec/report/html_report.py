"""The demo's report: ``index.html`` with its plots beside it (PNG, matplotlib),
readable offline. Each figure says how it was measured; the page ends with the
machine."""

from __future__ import annotations

import html
import statistics
from pathlib import Path

from parexec.report.demo import ANCHORS, CONTENTION, STRATEGIES, WORKLOADS, DemoResult
from parexec.report.html_page import html_page, html_table

COLOURS = {"serial": "#7f7f7f", "occ": "#1f77b4", "block-stm": "#d62728", "bal": "#9467bd"}

def write_report(result: DemoResult, folder: Path) -> Path:
    """Write ``folder/index.html`` and its figures; returns the page's path."""
    import matplotlib

    matplotlib.use("Agg")
    folder.mkdir(parents=True, exist_ok=True)
    sections = [_workloads(result, folder)]
    if result.blocks:
        sections += [_mainnet(result, folder), _simulated(result, folder), _hotspots(result)]
    else:
        sections.append("<h2>Mainnet blocks</h2><p>Not measured: no shared data was found (--data).</p>")
    sections += [_schedules(result, folder), _chain(result), _machine(result)]
    page = folder / "index.html"
    page.write_text(html_page(
        "parexec demo",
        "<h1>What parexec finds on this machine</h1>"
        "<p>Every parallel result below was compared with serial execution of the same block "
        "(receipts, gas, logs, state diff) and was equal.</p>" + "".join(sections)))
    return page


def _save(fig, folder: Path, name: str) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(folder / name, dpi=100)
    plt.close(fig)
    return f"<img src='{name}' alt='{name}'>"


def _workloads(result: DemoResult, folder: Path) -> str:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(WORKLOADS), figsize=(15, 3.4), sharey=True)
    speed = {(r["workload"], r["hot"], r["strategy"]): r["speedup"] for r in result.workloads}
    for ax, name in zip(axes, WORKLOADS):
        for strategy in STRATEGIES[1:]:
            ax.plot(CONTENTION, [speed[(name, h, strategy)] for h in CONTENTION], marker="o",
                    color=COLOURS[strategy], label=strategy)
        ax.axhline(1.0, color=COLOURS["serial"], linestyle="--", linewidth=1)
        ax.set_title(name)
        ax.set_xlabel("hot share")
    axes[0].set_ylabel("speedup over serial (2 workers)")
    axes[0].legend(fontsize=8)
    img = _save(fig, folder, "contention.png")
    rows = [[name, f"{hot:g}", *(f"{speed[(name, hot, s)]:.2f}x" for s in STRATEGIES[1:])]
            for name in WORKLOADS for hot in CONTENTION]
    repeat = len(result.workloads[0]["runs"]) if result.workloads else 0
    return ("<h2>Speedup against contention</h2>" + img
            + f"<p class='how'>Each workload block ({result.workloads[0]['txs']} signed transactions) "
              f"timed with serial and each strategy at 2 workers, alternating, median of {repeat} runs; "
              "hot share: the part of the transactions on one hot spot (a sender, a token holder, "
              "pool 0, NFT mints); bal with the block's exact EIP-7928 list, written from a serial run "
              "beforehand (untimed).</p>"
            + html_table(["workload", "hot", *STRATEGIES[1:]], rows))


def _mainnet(result: DemoResult, folder: Path) -> str:
    import matplotlib.pyplot as plt

    blocks = result.blocks
    fig, ax = plt.subplots(figsize=(15, 3.8))
    xs = range(len(blocks))
    measured = STRATEGIES[1:]
    width = 0.8 / len(measured)
    for k, strategy in enumerate(measured):
        ax.bar([x + (k - (len(measured) - 1) / 2) * width for x in xs], [b["speedups"][strategy] for b in blocks],
               width=width, color=COLOURS[strategy], label=f"{strategy}, measured")
    ax.scatter(xs, [b["bound_workers"] for b in blocks], color="black", marker="_", s=160, zorder=3,
               label="bound: dependency graph, 2 workers")
    ax.scatter(xs, [b["list_bound_workers"] for b in blocks], color=COLOURS["bal"], marker="x", s=40, zorder=3,
               label="bound: with an EIP-7928 list, 2 workers")
    ax.axhline(1.0, color=COLOURS["serial"], linestyle="--", linewidth=1)
    ax.set_xticks(list(xs), [str(b["block"]) for b in blocks], rotation=70, fontsize=7)
    ax.set_ylabel("speedup over serial")
    top = max(max(b["speedups"][s] for s in measured) for b in blocks)
    ax.set_ylim(0, max(top, 2.0) * 1.3)  # room above the bars for the legend
    ax.legend(fontsize=8, loc="upper left", ncol=5)
    img = _save(fig, folder, "mainnet.png")
    rows = [[b["block"], b["txs"], b["verified"], f"{b['independent_share']:.0%}",
             f"{b['bound_critical_path']:.1f}x", f"{b['bound_with_list']:.1f}x",
             *(f"{b['speedups'][s]:.2f}x" for s in STRATEGIES[1:]),
             "{}/{}".format(*b.get("occ_repairs", (0, 0)))]
            for b in blocks]
    geo = {s: statistics.geometric_mean(b["speedups"][s] for b in blocks) for s in STRATEGIES[1:]}
    repaired = sum(b.get("occ_repairs", (0, 0))[0] for b in blocks)
    stale = sum(b.get("occ_repairs", (0, 0))[1] for b in blocks)
    return ("<h2>Mainnet blocks</h2>" + img
            + "<p class='how'>Each block verified against the chain (receipts, gas, logs), then timed serially and "
              "with each strategy at 2 workers in one run; the bound is the block's total transaction time over "
              "its critical path (nonces predicted), capped at 2 workers; with an EIP-7928 list (every "
              "post-value known, no transaction waits), the bound is the total over the longest transaction; "
              "bal runs each block with its exact EIP-7928 list, written from a serial run beforehand (untimed). "
              "Geometric means: "
            + ", ".join(f"{s} {v:.2f}x" for s, v in geo.items())
            + f". occ repaired {repaired} of its {stale} stale results by operation-level redo "
              f"({repaired / stale if stale else 0:.0%}; the others it executed again).</p>"
            + html_table(["block", "txs", "verified", "independent", "bound (any cores)",
                          "bound with a list (any cores)", *STRATEGIES[1:], "occ repaired / stale"], rows))


def _simulated(result: DemoResult, folder: Path) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for strategy in dict.fromkeys(r["strategy"] for r in result.simulated):
        rows = [r for r in result.simulated if r["strategy"] == strategy]
        ax.plot([r["workers"] for r in rows], [r["median_speedup"] for r in rows], marker="o",
                color=COLOURS[strategy], label=f"{strategy} (simulated, median over blocks)")
    for label, workers, speedup in ANCHORS:
        ax.scatter([workers], [speedup], marker="*", s=120, color="#2ca02c", zorder=3)
        ax.annotate(label, (workers, speedup), xytext=(5, 3), textcoords="offset points", fontsize=7)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("workers")
    ax.set_ylabel("speedup over serial")
    ax.legend(fontsize=8, loc="upper left")
    img = _save(fig, folder, "simulated.png")
    default = "the simulator's default overheads (make simulate saves a calibration)"
    how = (f"overheads calibrated on this machine (build/calibration.json) for {', '.join(result.calibrated)}, "
           f"else {default}" if result.calibrated else default)
    return ("<h2>What more cores would buy (simulated, not measured)</h2>" + img
            + f"<p class='how'>Each mainnet block's real read/write sets and transaction times, scheduled per "
              f"strategy on N virtual workers with {how}; bal as if each block came with its EIP-7928 list. "
              "Stars: published figures from the design notes, each against its system's own serial "
              "baseline.</p>"
            + html_table(["strategy", "workers", "median speedup", "blocks"],
                     [[r["strategy"], r["workers"], f"{r['median_speedup']:.2f}x", r["blocks"]]
                      for r in result.simulated]))


def _hotspots(result: DemoResult) -> str:
    rows = sorted(result.hotspots, key=lambda h: -h["dependents"])[:20]
    return ("<h2>Hotspots</h2><p class='how'>The locations most transactions of a block wait on "
            "(slot granularity; the three hottest of each block, the twenty hottest shown).</p>"
            + html_table(["block", "contract", "slot or field", "transactions waiting"],
                     [[h["block"], h["address"], _short(h["slot"]) or h["field"] or "", h["dependents"]]
                      for h in rows]))


def _schedules(result: DemoResult, folder: Path) -> str:
    """occ's runs explained: the Gantt chart, the processes, the first executions thrown away."""
    from parexec.report.explain_report import process_rows, thrown_away_rows, title
    from parexec.report.gantt import draw_gantt

    parts = ["<h2>One run, step by step (parexec explain)</h2><p class='how'>One traced run of occ at "
             "2 workers after an untraced one, each execution a bar on its process's time line: green "
             "committed as speculated, red thrown away because a value it read changed (labelled with the "
             "location and the transaction that wrote the right value), orange redone by the coordinator at "
             "its turn. The outlined bars are one redone transaction and the chain of dependencies that held "
             "it back; the line counts the transactions committed so far. What each transaction should have "
             "seen is the state serial execution gives it.</p>"]
    for i, (spec, run) in enumerate(result.schedules):
        name = f"schedule-{i + 1}.png"
        draw_gantt(run.explanation, folder / name, title(run), run.focus)
        thrown = thrown_away_rows(run.explanation)
        follow = f" --tx {run.focus}" if run.focus is not None else ""
        parts += [f"<h3>{html.escape(run.target)}</h3><img src='{name}' alt='{name}'>",
                  html_table(["process", "executions", "thrown away", "busy ms", "busy share"],
                             process_rows(run.explanation))]
        if thrown:
            parts.append(f"<p>{len(thrown)} executions thrown away; the first ten:</p>"
                         + html_table(["tx", "process", "ms", "what", "why"], thrown[:10], (1, 3, 4)))
        parts.append(f"<p class='how'>Again, with every table in full: <code>parexec explain "
                     f"{html.escape(spec)} --strategy occ --workers 2{follow} -o DIR</code></p>")
    return "".join(parts)


def _short(slot: str | None) -> str | None:
    return slot if slot is None or len(slot) <= 20 else slot[:10] + "..." + slot[-6:]


def _chain(result: DemoResult) -> str:
    c = result.chain
    rows = [[k["name"], f"{k['blocks_per_second']:.1f}", f"{k['execution_ms']:.0f}", f"{k['state_root_ms']:.1f}",
             f"{k['persistence_ms']:.1f}", ", ".join(f"{p} {mb:.0f}" for p, mb in k["peak_mb"].items())]
            for k in c["configs"]]
    return ("<h2>A chain, end to end</h2>"
            f"<p class='how'>{c['blocks']} synthetic blocks ({html.escape(c['spec'])}, {c['accounts']:,} accounts) "
            "imported from one genesis store, every state root checked, one run each. occ pipelined imports "
            f"{c['speedup']:.2f}x as many blocks a second as serial one block at a time; the incremental state "
            f"root costs {c['state_root_share']:.0%} of serial execution.</p>"
            + html_table(["configuration", "blocks/s", "execution ms/block", "state root ms/block",
                      "persistence ms/block", "peak MB"], rows))


def _machine(result: DemoResult) -> str:
    m = result.machine
    rows = [[k, v] for k, v in m.items()] + [[f"{k} (s)", f"{v:.0f}"] for k, v in result.seconds.items()]
    return "<h2>Machine</h2>" + html_table(["what", "value"], rows)
