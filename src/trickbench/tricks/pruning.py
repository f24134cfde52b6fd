"""Pruning a trained MLP, the lecture's four ways, evaluated after training (issue 18, item 5).

  magnitude          connections with the smallest |w| (one threshold over all weight matrices)
  obd                connections with the smallest Optimal Brain Damage saliency s_k = h_kk w_k^2 / 2
                     (LeCun, Denker & Solla, NIPS 1989): h_kk from the paper's backpropagation of
                     diagonal second derivatives with the Gauss-Newton (Levenberg-Marquardt)
                     approximation, summed over training images; softmax cross-entropy at the output
  neuron_weight      hidden neurons with the smallest norm of their incoming weights
  neuron_activation  hidden neurons with the smallest mean |activation| over training images

Connection methods zero the chosen share of all weight-matrix entries; neuron methods remove the
chosen share of each hidden layer's neurons (their row, bias and outgoing column), which removes
about that share of the weights too. Each pruned network is evaluated as is and after a short
fine-tuning with the pruned weights held at zero.

The paper's own procedure is iterative ("delete some low-saliency parameters, retrain, repeat",
LeCun et al. 1989, §3): with `iterative`, magnitude and OBD each also prune the trained network
along a schedule of rising sparsities, rescoring the current (pruned, retrained) network at every
step and retraining `retrain_epochs` with the pruned weights held at zero after it; the same
schedule, retraining and data order for both, so only the score differs.

recipe key: prune: {finetune_epochs: 1, iterative: {schedule: [0.2, ..., 0.95], retrain_epochs: 1}}
            (absent: off; model mlp with ReLU, no batchnorm or dropout; iterative optional)
metrics:    prune_<method>_<pct> and prune_<method>_<pct>_ft: test accuracy after pruning pct %
            (pct from SPARSITIES) at once, without and with fine-tuning; with iterative,
            prune_iter_<method>_<pct>: after the schedule's step to pct % and its retraining
"""
from __future__ import annotations

import copy

from trickbench.tricks.base import Trick, lazy, no_grad, register

torch = lazy("torch")
nn = lazy("torch.nn")
F = lazy("torch.nn.functional")

METHODS = ("magnitude", "obd", "neuron_weight", "neuron_activation")
SPARSITIES = (0.5, 0.8, 0.9, 0.95)
ITERATIVE = ("magnitude", "obd")   # the connection methods, pruned along a schedule


def metric_names() -> list[str]:
    return [f"prune_{m}_{round(100 * s)}{ft}" for m in METHODS for s in SPARSITIES for ft in ("", "_ft")] + \
        [f"prune_iter_{m}_{round(100 * s)}" for m in ITERATIVE for s in SPARSITIES]


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


@no_grad
def _forward_layers(model: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(inputs of each Linear, pre-activations of each Linear) for a plain MLP (Linear-ReLU-...)."""
    ins, pre = [], []
    h = x.flatten(1)
    layers = linears(model)
    for i, lin in enumerate(layers):
        ins.append(h)
        a = lin(h)
        pre.append(a)
        h = F.relu(a) if i < len(layers) - 1 else a
    return ins, pre


@no_grad
def obd_hessian_diagonal(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """h_kk of every weight, per Linear layer (same shapes as the weights), summed over the
    images x (already normalised): LeCun et al.'s backpropagation of diagonal second
    derivatives, d2E/da_i^2 at the output = p_i (1 - p_i), then
    d2E/da_j^2 = f'(a_j)^2 sum_i w_ij^2 d2E/da_i^2 (off-diagonal terms dropped), h_ij = sum_n d2E/da_i^2 x_j^2."""
    ins, pre = _forward_layers(model, x)
    layers = linears(model)
    p = F.softmax(pre[-1], dim=1)
    d2 = p * (1 - p)                                   # [N, out]
    hs = [None] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        hs[i] = d2.t() @ ins[i].pow(2)                 # [out, in]
        if i:
            fprime = (pre[i - 1] > 0).float()         # ReLU
            d2 = fprime.pow(2) * (d2 @ layers[i].weight.pow(2))
    return hs


def _masks_connections(scores: list[torch.Tensor], sparsity: float) -> list[torch.Tensor]:
    flat = torch.cat([s.flatten() for s in scores])
    k = int(round(sparsity * flat.numel()))
    if k == 0:
        return [torch.ones_like(s, dtype=torch.bool) for s in scores]
    cut = flat.kthvalue(k).values
    return [s > cut for s in scores]


def _masks_neurons(layers, neuron_scores: list[torch.Tensor], sparsity: float) -> list[torch.Tensor]:
    """Masks over weights removing the lowest-scoring share of each hidden layer's neurons."""
    masks = [torch.ones_like(lin.weight, dtype=torch.bool) for lin in layers]
    for i, sc in enumerate(neuron_scores):        # hidden layer i: rows of layers[i], columns of layers[i+1]
        k = int(round(sparsity * len(sc)))
        if k:
            gone = sc.argsort()[:k]
            masks[i][gone, :] = False
            masks[i + 1][:, gone] = False
    return masks


@no_grad
def masks_for(model: nn.Module, method: str, sparsity: float, x: torch.Tensor) -> list[torch.Tensor]:
    layers = linears(model)
    if method == "magnitude":
        return _masks_connections([lin.weight.abs() for lin in layers], sparsity)
    if method == "obd":
        hs = obd_hessian_diagonal(model, x)
        return _masks_connections([h * lin.weight.pow(2) / 2 for h, lin in zip(hs, layers)], sparsity)
    if method == "neuron_weight":
        return _masks_neurons(layers, [lin.weight.norm(dim=1) for lin in layers[:-1]], sparsity)
    if method == "neuron_activation":
        _, pre = _forward_layers(model, x)
        return _masks_neurons(layers, [F.relu(a).abs().mean(0) for a in pre[:-1]], sparsity)
    raise ValueError(f"prune method {method!r} is not one of {', '.join(METHODS)}")


@no_grad
def apply(model: nn.Module, masks: list[torch.Tensor]) -> nn.Module:
    """A pruned copy: masked weights zeroed, and a removed neuron's bias too."""
    out = copy.deepcopy(model)
    for lin, m in zip(linears(out), masks):
        lin.weight.mul_(m)
        dead = ~m.any(dim=1)
        if lin.bias is not None and dead.any() and lin is not linears(out)[-1]:
            lin.bias[dead] = 0.0
    return out


def finetune(model: nn.Module, masks, x, y, mean, std, recipe: dict, epochs: int, generator) -> None:
    """A short fine-tuning at a tenth of the base learning rate, SGD with momentum 0.9; pruned
    weights (and removed neurons' biases) stay zero."""
    from trickbench.data.tensors import normalize
    layers = linears(model)
    opt = torch.optim.SGD(model.parameters(), lr=recipe["lr"] * 0.1, momentum=0.9)
    bs = recipe["batch_size"]
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for b in range(len(y) // bs):
            idx = order[b * bs:(b + 1) * bs]
            loss = F.cross_entropy(model(normalize(x[idx], mean, std)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for i, (lin, m) in enumerate(zip(layers, masks)):
                    lin.weight.mul_(m)
                    if i < len(layers) - 1:
                        lin.bias[~m.any(dim=1)] = 0.0
    model.eval()


SCORE_IMAGES = 10_000  # training images that score weights (OBD's Hessian diagonal) and neurons


def score_images(n: int) -> torch.Tensor | slice:
    """Which of the n training images score the weights and neurons: SCORE_IMAGES strided over the
    split, so every class is in it. (Until 2026-12-04 the first 10,000: on the class-sorted MNIST
    copy, 5,425 zeros and 4,575 ones, which scored neurons by two digits' activations.)"""
    from trickbench.data.tensors import strided
    return strided(n, SCORE_IMAGES)


def evaluate_all(model, spec: dict, x_train, y_train, x_test, y_test, mean, std, recipe: dict, evaluate,
                 seed: int) -> dict:
    """Every method at every sparsity, without and with fine-tuning: {metric name: test accuracy}."""
    if not isinstance(model, nn.Module) or any(not isinstance(m, (nn.Linear, nn.ReLU, nn.Flatten))
                                               for m in getattr(model, "net", [None])):
        raise ValueError("prune: only a plain ReLU MLP (model mlp, no batchnorm or dropout) can be pruned")
    from trickbench.data.tensors import normalize
    xs = normalize(x_train[score_images(len(y_train))], mean, std)
    out = {}
    for method in METHODS:
        for s in SPARSITIES:
            masks = masks_for(model, method, s, xs)
            pruned = apply(model, masks)
            name = f"prune_{method}_{round(100 * s)}"
            out[name] = evaluate(pruned, x_test, y_test)
            g = torch.Generator().manual_seed(seed * 7919 + 17)
            finetune(pruned, masks, x_train, y_train, mean, std, recipe, int(spec.get("finetune_epochs", 1)), g)
            out[name + "_ft"] = evaluate(pruned, x_test, y_test)
    if spec.get("iterative"):
        for method in ITERATIVE:
            out |= iterative(model, method, spec["iterative"], xs, x_train, y_train, x_test, y_test, mean, std,
                             recipe, evaluate, seed)
    return out


def iterative(model, method: str, spec: dict, xs, x_train, y_train, x_test, y_test, mean, std, recipe: dict,
              evaluate, seed: int) -> dict:
    """Prune `method` along spec["schedule"] (rising sparsities): at each step score the current
    network, prune to that sparsity (what is pruned stays pruned), retrain spec["retrain_epochs"]
    with the pruned weights at zero; {prune_iter_<method>_<pct>: test accuracy} at the
    schedule's steps that are SPARSITIES. The retraining's data order depends on the seed only."""
    net, masks, out = copy.deepcopy(model), None, {}
    g = torch.Generator().manual_seed(seed * 7919 + 29)
    for s in spec["schedule"]:
        new = masks_for(net, method, s, xs)
        masks = new if masks is None else [m & n for m, n in zip(masks, new)]
        net = apply(net, masks)
        finetune(net, masks, x_train, y_train, mean, std, recipe, int(spec.get("retrain_epochs", 1)), g)
        if any(abs(s - t) < 1e-9 for t in SPARSITIES):
            out[f"prune_iter_{method}_{round(100 * s)}"] = evaluate(net, x_test, y_test)
    return out


def check_iterative(it, where: str) -> None:
    sched = it.get("schedule") if isinstance(it, dict) else None
    if not isinstance(sched, list) or not sched or any(not isinstance(v, (int, float)) or not 0 < v < 1 for v in sched) \
            or sched != sorted(set(sched)):
        raise ValueError(f"{where}: prune.iterative.schedule must be a rising list of sparsities in (0, 1), not {sched!r}")
    if not isinstance(it.get("retrain_epochs", 1), int) or it.get("retrain_epochs", 1) < 1:
        raise ValueError(f"{where}: prune.iterative.retrain_epochs must be a whole number >= 1")
    if set(it) - {"schedule", "retrain_epochs"}:
        raise ValueError(f"{where}: prune.iterative takes schedule and retrain_epochs, not {sorted(set(it) - {'schedule', 'retrain_epochs'})}")


@register("prune")
class Prune(Trick):
    """On a finished run: every method at every sparsity, without and with fine-tuning."""
    # its recipe key in a claim file (merged into claim.schema.yaml's recipe when the schema loads)
    schema = {'type': ['object', 'null'],
             'description': "Prune the trained network the lecture's four ways (trickbench.tricks.pruning) at "
                            '50/80/90/95 % sparsity, with and without a short fine-tuning; adds '
                            'prune_<method>_<pct>[_ft] test accuracies. A plain ReLU MLP only.',
             'additionalProperties': False,
             'properties': {'finetune_epochs': {'type': 'integer', 'minimum': 0, 'default': 1},
                            'iterative': {'type': 'object',
                                          'description': "OBD's own procedure for magnitude and OBD: prune along a "
                                                         'rising schedule of sparsities, rescoring and retraining '
                                                         'after each step (adds prune_iter_<method>_<pct>)',
                                          'additionalProperties': False,
                                          'required': ['schedule'],
                                          'properties': {'schedule': {'type': 'array',
                                                                      'minItems': 1,
                                                                      'items': {'type': 'number',
                                                                                'exclusiveMinimum': 0,
                                                                                'exclusiveMaximum': 1}},
                                                         'retrain_epochs': {'type': 'integer',
                                                                            'minimum': 1,
                                                                            'default': 1}}}}}
    order = 60
    metrics = {name: "test accuracy after pruning (method, % removed, _ft: after fine-tuning)" for name in metric_names()}
    units = {name: "pp" for name in metric_names()}

    @classmethod
    def check(cls, spec, recipe: dict, where: str) -> None:
        args = recipe.get("model_args", {})
        if recipe["model"] != "mlp" or args.get("batchnorm") or args.get("dropout") or args.get("input_dropout") \
                or args.get("activation", "relu") != "relu":
            raise ValueError(f"{where}: prune works on a plain ReLU MLP (model mlp without batchnorm or dropout)")
        if not isinstance(spec, dict) or not isinstance(spec.get("finetune_epochs", 1), int) or spec.get("finetune_epochs", 1) < 0:
            raise ValueError(f"{where}: prune must be {{finetune_epochs: <whole number >= 0>}}, not {spec!r}")
        if "iterative" in spec:
            check_iterative(spec["iterative"], where)

    def final_metrics(self, run, metrics: dict) -> None:
        if run.outcome == "ok" and run.history:
            metrics |= evaluate_all(run.model, self.spec, run.x_train, run.y_train, run.x_test, run.y_test,
                                    run.mean, run.std, self.recipe, run.accuracy, run.seed)
