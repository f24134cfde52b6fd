"""Figure layout: facets wrap onto new rows of panels."""
import pandas as pd
import pytest

from trickbench import figures
import trickbench.figures.kinds.curves  # noqa: F401  (the modules whose _save a test watches)
import trickbench.figures.kinds.path  # noqa: F401
import trickbench.figures.kinds.points  # noqa: F401


def test_curves_facets_wrap_into_blocks(tmp_path, monkeypatch):
    curves = pd.DataFrame([{"epoch": e, "test_acc": 0.1 * e, "row": f"r{k}", "noise": n, "seed": s}
                           for k in range(5) for n in ("none", "eta") for s in range(2) for e in (1, 2, 3)])
    seen = {}
    real = figures._save
    monkeypatch.setattr(figures.kinds.curves, "_save", lambda fig, out: (seen.setdefault("fig", fig), real(fig, out)))
    spec = {"x": "epoch", "y": ["test_acc"], "facet": "row", "wrap": 2, "hue": "noise", "logx": False}
    figures.curves_figure(curves, spec, tmp_path / "c.svg")
    axes = [a for a in seen["fig"].axes if a.get_title() or not a.get_visible()]
    grid = [a.get_subplotspec().get_geometry()[:2] for a in axes]
    assert set(grid) == {(3, 2)}  # 5 facets at 2 a row: 3 rows of 2 panels
    assert sorted(a.get_title() for a in axes if a.get_visible()) == [f"r{k}" for k in range(5)]
    assert sum(not a.get_visible() for a in axes) == 1  # the sixth slot stays empty
    assert (tmp_path / "c.svg").stat().st_size > 0


def test_path_figure_draws_each_optimizer_over_the_contours_up_to_max_t(tmp_path, monkeypatch):
    from trickbench import quadratic
    from trickbench.tasks import TASKS
    out = quadratic.run(dict(TASKS.get("quadratic").defaults, optimizer="sgd", lr=1.0, steps=30), [0])
    curves = pd.DataFrame([{"optimizer": name, "seed": 0, "t": t, "w1": out["path"][t, 0, 0], "w2": out["path"][t, 0, 1]}
                           for name in ("GD", "GD again", "GD third") for t in range(31)])
    seen = {}
    real = figures._save
    monkeypatch.setattr(figures.kinds.path, "_save", lambda fig, out: (seen.setdefault("fig", fig), real(fig, out)))
    spec = {"x": "w1", "y": ["w2"], "hue": "optimizer", "max_t": 10, "wrap": 2}
    figures.path_figure(curves, spec, tmp_path / "p.svg", quadratic.matrix(100.0, 30.0))
    visible = [a for a in seen["fig"].axes if a.get_visible()]
    assert [a.get_title() for a in visible] == ["GD", "GD again", "GD third"]
    line = visible[0].lines[0]
    assert len(line.get_xdata()) == 11 and line.get_xdata()[0] == -2.0    # steps 0..max_t from the start
    assert visible[0].collections                                           # the contours


def test_the_same_data_redrawn_gives_the_same_bytes(tmp_path):
    curves = pd.DataFrame([{"epoch": e, "test_acc": 0.1 * e, "arm": a, "seed": s}
                           for a in ("x", "y") for s in range(2) for e in (1, 2, 3)])
    spec = {"x": "epoch", "y": ["test_acc"], "hue": "arm", "logx": False}
    figures.curves_figure(curves, spec, tmp_path / "a.svg")
    figures.curves_figure(curves, spec, tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    assert b"<dc:date>" not in (tmp_path / "a.svg").read_bytes()
    # points (bootstrap intervals) and runs (jittered strips) figures too
    runs = pd.DataFrame([{"arm": a, "lr": lr, "seed": s, "acc": 0.5 + 0.1 * s + (a == "y") * 0.05}
                         for a in ("x", "y") for lr in ("0.1", "1") for s in range(4)])
    for name, draw, spec in [("p", figures.points_figure, {"x": "arm", "y": ["acc"], "hue": "arm"}),
                             ("r", figures.runs_figure, {"y": ["acc"], "by": "arm", "facet": "lr", "hue": "arm"})]:
        draw(runs, spec, tmp_path / f"{name}1.svg")
        draw(runs, spec, tmp_path / f"{name}2.svg")
        assert (tmp_path / f"{name}1.svg").read_bytes() == (tmp_path / f"{name}2.svg").read_bytes(), name


def test_points_figure_category_names_never_overlap(tmp_path, monkeypatch):
    """The data_augmentation figure's "flip + crop" and "flip + crop + colour" ran into each other."""
    names = ["none", "crop", "flip + crop", "flip + crop + colour"]
    runs = pd.DataFrame([{"augment": a, "seed": s, "final_test_acc": 0.5 + 0.05 * k + 0.01 * s}
                         for k, a in enumerate(names) for s in range(3)])
    seen = {}
    real = figures._save
    monkeypatch.setattr(figures.base, "_save", lambda fig, out: (seen.setdefault("fig", fig), real(fig, out)))
    figures.points_figure(runs, {"x": "augment", "y": ["final_test_acc"], "hue": "augment"}, tmp_path / "p.svg")
    fig = seen["fig"]
    ax = fig.axes[0]
    labels = ax.get_xticklabels()
    assert [t.get_text().replace("\n", " ") for t in labels] == names   # wrapped, not renamed
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(fig)        # _save closed the figure: draw it again to measure the labels
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in labels]
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))            # left to right, apart
    assert ax.get_legend() is None          # the x axis already names every point


def test_hues_sharing_an_x_are_dodged_and_a_narrow_accuracy_axis_is_widened():
    import matplotlib.pyplot as plt
    import pandas as pd
    from trickbench import figures
    runs = pd.DataFrame({"share": [1.0, 1.0, 1.0, 1.0, 0.75, 0.75], "rule": ["constant", "constant", "drop", "drop", "linear", "linear"],
                         "final_test_acc": [0.118, 0.12, 0.121, 0.119, 0.122, 0.12]})
    moved = figures._dodge(runs, "share", "rule")
    at_one = moved[runs["share"] == 1.0].groupby("rule")["share"].first()
    assert at_one["constant"] != at_one["drop"]          # no mean hidden under the other's bar
    assert figures._dodge(runs[runs["rule"] != "drop"], "share", "rule").equals(runs[runs["rule"] != "drop"])
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0.118, 0.122])
    figures._min_share_span(ax, "final_test_acc")
    lo, hi = ax.get_ylim()
    assert hi - lo >= figures.MIN_SHARE_SPAN - 1e-12 and 0 <= lo and hi <= 1
    ax.set_ylim(0.1, 0.11)
    figures._min_share_span(ax, "final_train_loss")      # not a share: left alone
    assert ax.get_ylim() == (0.1, 0.11)
    plt.close(fig)
    assert "#F0E442" not in figures.PALETTE              # light yellow markers vanished on white


def test_the_forest_plot_redraws_to_the_same_bytes_and_splits_between_tricks(tmp_path):
    from trickbench import figures
    rows = [{"axis": "pp", "effect": 1.0 + i, "lo": 0.5, "hi": 2.0 + i, "trick": f"T{i // 30}", "label": f"s{i}",
             "verdict": "replicated", "level": "reduced", "tier": "cpu"} for i in range(60)]
    a = figures.forest_figures(rows, tmp_path / "a")
    b = figures.forest_figures(rows, tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]
    assert len(a) == 2   # 60 rows and 2 headers do not fit one page: split where the trick changes


def test_forest_parts_are_balanced_and_split_between_tricks_only():
    from trickbench import figures

    def rows(sizes):
        return [{"trick": f"T{t}", "label": f"{t}.{i}"} for t, n in enumerate(sizes) for i in range(n)]

    def shown(parts):   # rows per part, each trick's header counted
        return [len(p) + len({r["trick"] for r in p}) for p in parts]
    # 56 rows and 6 headers: two parts, not 52 rows and a squeezed 2-row part (page 3's overlapping labels)
    parts = figures.forest_parts(rows([10] * 5 + [6]), per_page=52)
    assert shown(parts) == [33, 29]
    assert [r for p in parts for r in p] == rows([10] * 5 + [6])                   # every row, in order
    assert all(len({r["trick"] for r in p} & {r["trick"] for r in q}) == 0 for p, q in zip(parts, parts[1:]))
    assert shown(figures.forest_parts(rows([20, 20]), per_page=52)) == [42]        # one page holds it
    assert shown(figures.forest_parts(rows([60]), per_page=52)) == [61]            # a trick is never cut
    assert figures.forest_parts([], per_page=52) == []


def test_a_figure_metric_the_runs_lack_is_one_line_naming_the_fix():
    # ResNet-56 runs trained before compute_share was recorded (cpu_long, from a fixed older commit)
    from types import SimpleNamespace
    cat = SimpleNamespace(id="stochastic_depth", tier="cpu_long")
    runs = pd.DataFrame({"train_s_per_epoch": [19.0, 15.9], "outcome": ["ok", "ok"]})
    with pytest.raises(ValueError, match=r"2 finished run\(s\) lack compute_share.*measure-share --tier cpu_long"):
        figures._require_columns(runs, ["compute_share", "train_s_per_epoch"], cat)
    figures._require_columns(runs.assign(compute_share=[1.0, 0.8]), ["compute_share", "train_s_per_epoch"], cat)


def test_dot_colours_mean_one_value_in_every_panel(tmp_path, monkeypatch):
    # batch 2048 has BN (no clipping) first, batch 256 only NF + AGC runs so far: each panel's own
    # order of appearance gave 0.16 one colour on the left and another on the right
    runs = pd.DataFrame([{"method": "BN", "batch": "2048", "clipping": "nan", "final_test_acc": 0.84},
                         {"method": "NF + AGC", "batch": "2048", "clipping": "0.04", "final_test_acc": 0.76},
                         {"method": "NF + AGC", "batch": "2048", "clipping": "0.16", "final_test_acc": 0.56},
                         {"method": "NF + AGC", "batch": "256", "clipping": "0.16", "final_test_acc": 0.85},
                         {"method": "NF + AGC", "batch": "256", "clipping": "0.04", "final_test_acc": 0.83}])
    calls = []
    real = figures.sns.stripplot
    monkeypatch.setattr(figures.sns, "stripplot", lambda **kw: (calls.append(kw), real(**kw))[1])
    figures.runs_figure(runs, {"y": ["final_test_acc"], "by": "method", "facet": "batch", "hue": "clipping"},
                        tmp_path / "f.svg")
    assert [c["hue_order"] for c in calls] == [["none", "0.04", "0.16"]] * 2
    assert calls[0]["palette"] == calls[1]["palette"] and len(set(calls[0]["palette"].values())) == 3


def test_no_forest_marker_sits_on_the_frame(tmp_path):
    """Rates of −100 pp drew their marker on the frame (issue 45): the axis reaches beyond every row."""
    import matplotlib.pyplot as plt
    rows = [{"axis": "pp", "trick": "T", "label": "a", "effect": 100.0, "lo": 39.0, "hi": 100.0, "verdict": "replicated",
             "level": "reduced", "tier": "cpu"},
            {"axis": "pp", "trick": "T", "label": "b", "effect": -0.5, "lo": -1.0, "hi": 0.2, "verdict": "reversed",
             "level": "reduced", "tier": "cpu"}]
    captured = {}
    real_save = figures.forest._save
    figures.forest._save = lambda fig, out: captured.setdefault("fig", fig)
    try:
        figures.forest_figure(rows, tmp_path / "f.svg")
    finally:
        figures.forest._save = real_save
    lo, hi = captured["fig"].axes[0].get_xlim()
    assert lo <= -150 and hi >= 150   # half a decade clear of the widest row (autoscale left 5 %)
    plt.close(captured["fig"])
