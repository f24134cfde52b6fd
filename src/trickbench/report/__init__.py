"""results/*/*/verdicts.json + claim files + figures -> report/report.pdf (typst). Never imports torch.

Python gathers and formats every number; the typst template (report/report.typ) only lays out
what it finds in build/data.json. Every tier that has results is shown, each labelled. Along its
seams, one module each:

    text      the words: a rule, a verdict and its notes, a setup, a recipe (numbers: units.num)
    evidence  the data model per claim and trick: strongest evidence, page-1 answers, regime rows,
              budget points, forest rows, costs, tallies, Limitations
    gather    everything above into the one dict the template lays out
    sections  the optional sections from files of their own: speed, verdict changes, reproduction,
              canaries
    outputs   what is written: the PDF, results/verdicts.csv, the README's results table
"""
from trickbench.report.evidence import (TABLE_METRICS, _costs, _eval_cost, _in_progress, _pooled,  # noqa: F401
                                        answers, best_evidence, budget_points, forest_rows, limitations,
                                        regime_rows, steps_share, table_metrics)
from trickbench.report.gather import gather  # noqa: F401
from trickbench.report.outputs import (FLAT_COLUMNS, README_END, README_START, build, flat_verdicts,  # noqa: F401
                                       readme_table, update_readme, write_flat_verdicts)
from trickbench.report.sections import canaries, reproduction, speed, verdict_changes  # noqa: F401
from trickbench.report.text import (FEW_SEEDS, FRAGILE, _p_holm, _recipe_text, _regime_text, _reruns,  # noqa: F401
                                    _rule_text, _shown, _stability, _verdict_note, label, seeds_text)
