"""Early stopping with a patience rule, evaluated on a run's per-epoch history.

The rule (Prechelt 1998, the "UP"-style patience criterion most libraries ship): training stops
after epoch e when the validation accuracy has not beaten its best for `patience` epochs in a
row; the model kept is the one of the best-validation epoch up to e. The run itself trains every
epoch (so that the last epoch, the contrast, is measured on the same run); the rule is applied to
its history afterwards, which gives exactly what stopping would have given, since a stopped run's
epochs up to e are the same epochs.

Beside it, with `gl_alpha`, Prechelt's generalisation-loss criterion GL_alpha ("Early Stopping -
But When?", 1998, §2.1): with E_opt(t) the lowest validation error up to epoch t,
GL(t) = 100 (E_va(t) / E_opt(t) - 1), and training stops after the first epoch with GL(t) > alpha;
the model kept is the one with the lowest validation error so far. E_va is the validation loss
(the training objective, cross-entropy, as Prechelt's was the objective, squared error).

recipe key: early_stopping: {patience: 5, gl_alpha: 5}   (absent: off; gl_alpha optional)
metrics:    test_acc_early_stop   test accuracy of the kept model
            early_stop_epoch      the epoch training would have stopped after (the last, if never)
            early_stop_gain       test_acc_early_stop - final_test_acc
            early_stop_regret     best_test_acc - test_acc_early_stop (what hindsight would add)
            test_acc_gl, gl_stop_epoch, gl_gain   the same three for GL_alpha
"""
from __future__ import annotations

from trickbench.tricks.base import Trick, register


def stop(val_accs: list[float], patience: int) -> tuple[int, int]:
    """(stop epoch, kept epoch), 1-based: the first epoch after which validation accuracy has not
    improved on its best for `patience` epochs, and that best epoch (ties keep the earlier)."""
    if patience < 1:
        raise ValueError(f"early_stopping.patience must be at least 1, not {patience}")
    best, kept = float("-inf"), 0
    for e, v in enumerate(val_accs, start=1):
        if v > best:
            best, kept = v, e
        elif e - kept >= patience:
            return e, kept
    return len(val_accs), kept


def gl_stop(val_losses: list[float], alpha: float) -> tuple[int, int]:
    """(stop epoch, kept epoch), 1-based, of GL_alpha: the first epoch whose generalisation loss
    100 (E_va / E_opt - 1) exceeds alpha, and the epoch of the lowest validation loss up to it."""
    if not alpha > 0:
        raise ValueError(f"early_stopping.gl_alpha must be > 0, not {alpha}")
    best, kept = float("inf"), 0
    for e, v in enumerate(val_losses, start=1):
        if v < best:
            best, kept = v, e
        elif 100 * (v / best - 1) > alpha:
            return e, kept
    return len(val_losses), kept


def metrics(history: list[dict], spec: dict | None) -> dict:
    """The early-stopping metrics of a finished history (rows with val_acc and test_acc)."""
    if not spec or not history or "val_acc" not in history[0]:
        return {}
    stopped, kept = stop([h["val_acc"] for h in history], int(spec["patience"]))
    acc = history[kept - 1]["test_acc"]
    out = {"test_acc_early_stop": acc, "early_stop_epoch": stopped,
           "early_stop_gain": acc - history[-1]["test_acc"],
           "early_stop_regret": max(h["test_acc"] for h in history) - acc}
    if spec.get("gl_alpha") is not None and "val_loss" in history[0]:
        stopped, kept = gl_stop([h["val_loss"] for h in history], float(spec["gl_alpha"]))
        acc = history[kept - 1]["test_acc"]
        out |= {"test_acc_gl": acc, "gl_stop_epoch": stopped, "gl_gain": acc - history[-1]["test_acc"]}
    return out


@register("early_stopping")
class EarlyStopping(Trick):
    """The patience rule on the run's history, for every outcome (the stacked engine too)."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['object', 'null'],
             'description': "Early stopping (trickbench.tricks.early_stopping): the patience rule applied to the run's "
                            'validation history; adds test_acc_early_stop, early_stop_epoch, early_stop_gain and '
                            'early_stop_regret. Needs val_fraction > 0.',
             'additionalProperties': False,
             'required': ['patience'],
             'properties': {'patience': {'type': 'integer',
                                         'minimum': 1,
                                         'description': 'Stop once validation accuracy has not beaten its best for '
                                                        'this many epochs; keep the best-validation model.'},
                            'gl_alpha': {'type': 'number',
                                         'exclusiveMinimum': 0,
                                         'description': "Also Prechelt's generalisation-loss criterion GL_alpha: stop "
                                                        'after the first epoch whose validation loss exceeds its '
                                                        'minimum so far by more than alpha %; keep the '
                                                        'lowest-validation-loss model (test_acc_gl, gl_stop_epoch, '
                                                        'gl_gain).'}}}
    order = 50
    stacked = True
    metrics = {"test_acc_early_stop": "test accuracy of the model early stopping keeps",
               "early_stop_epoch": "the epoch training would have stopped after (the last, if never)",
               "early_stop_gain": "test_acc_early_stop − final_test_acc",
               "early_stop_regret": "best_test_acc − test_acc_early_stop (what hindsight would add)",
               "test_acc_gl": "test accuracy of the model Prechelt's GL_alpha keeps (gl_alpha)",
               "gl_stop_epoch": "the epoch GL_alpha stops after (the last, if never)",
               "gl_gain": "test_acc_gl − final_test_acc"}
    units = {m: "pp" for m in metrics if m not in ("early_stop_epoch", "gl_stop_epoch")}

    @classmethod
    def check(cls, spec, recipe: dict, where: str) -> None:
        if recipe.get("test_every", 1) > 1:
            raise ValueError(f"{where}: early_stopping reads the test accuracy of every epoch; it needs test_every 1")
        if not isinstance(spec, dict) or not isinstance(spec.get("patience"), int) or spec["patience"] < 1:
            raise ValueError(f"{where}: early_stopping must be {{patience: <whole number of epochs >= 1>}}, not {spec!r}")
        if not recipe.get("val_fraction"):
            raise ValueError(f"{where}: early_stopping needs a validation split (val_fraction > 0)")
        alpha = spec.get("gl_alpha")
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0):
            raise ValueError(f"{where}: early_stopping.gl_alpha must be a number > 0 (Prechelt's alpha, in %), not {alpha!r}")

    def final_metrics(self, run, metrics_: dict) -> None:
        metrics_ |= metrics(run.history, self.spec)
