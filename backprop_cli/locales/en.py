"""English."""

MESSAGES = {
    "title.step": "Backpropagation, worked out: one training step",
    "title.train": "Training report",
    "network": "Network",
    "network.summary": "{widths}, {activations}; loss {loss}; learning rate α = {lr}",
    "network.summary.layers": "{widths}; loss {loss}; learning rate α = {lr}",
    "sample": "Sample",
    "samples": "{count} samples",
    "section.forward": "Forward pass",
    "section.loss": "Loss",
    "section.backward": "Backward pass",
    "section.batch": "Batch gradient",
    "section.update": "Update",
    "section.summary": "Summary",
    "section.code": "The step in PyTorch",
    "intro.code": (
        "The same step in PyTorch, in float64: output = model(x) is the forward pass (section 1),"
        " loss = criterion(output, y) the loss (2), loss.backward() the backward pass (3) and"
        " optimizer.step() the update. Run it with python: it prints every number of this page as JSON."
    ),
    "title.exercise": "Exercise {number}: one training step by hand",
    "title.exercise.document": "Exercise sheet: backpropagation by hand",
    "title.exercise.keys": "Answer keys: backpropagation by hand",
    "exercise.key": "Answer key to exercise {number}.",
    "exercise.instructions": (
        "Work one training step of this network by hand: fill in every blank, rounded to"
        " {precision} decimals. Check your answers with backprop check."
    ),
    "exercise.given": "Given",
    "table.value": "value",
    "intro.forward": (
        "Each unit takes the weighted sum z of its inputs plus its bias, then applies its"
        " activation."
    ),
    "intro.loss": "The loss compares the prediction ŷ with the target y.",
    "intro.backward": (
        "The chain rule, from the output back: δ = ∂𝓛/∂z for every unit, then"
        " ∂𝓛/∂W = δ × (the input the weight multiplies) and ∂𝓛/∂b = δ. A hidden unit's"
        " ∂𝓛/∂a sums over every path through the layer above, reusing its δ."
    ),
    "intro.batch": "Each sample's gradient, then the batch gradient the update uses.",
    "intro.update": "Gradient descent: θ(t+1) = θ(t) − α ∂𝓛/∂θ(t), with α = {lr}.",
    "intro.update.momentum": (
        "SGD with momentum μ = {momentum} (torch.optim.SGD): v(t+1) = μ v(t) + ∂𝓛/∂θ,"
        " θ(t+1) = θ(t) − α v(t+1), with α = {lr}{decay}; v is 0 before the first step."
    ),
    "intro.update.adam": (
        "Adam (torch.optim.Adam): m = β₁m + (1 − β₁)g, v = β₂v + (1 − β₂)g², bias-corrected"
        " m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ), θ(t+1) = θ(t) − α m̂/(√v̂ + ε); step t = {t},"
        " α = {lr}, β₁ = {beta1}, β₂ = {beta2}, ε = {eps}{decay}."
    ),
    "intro.update.decay": (
        "Gradient descent with weight decay (torch.optim.SGD): g = ∂𝓛/∂θ + λθ(t), θ(t+1) = θ(t) − α g,"
        " with α = {lr}, λ = {weight_decay}."
    ),
    "intro.update.adamw": (
        "AdamW (torch.optim.AdamW): the weight decay first, θ̃ = θ(t)(1 − αλ), then Adam's step from θ̃:"
        " m = β₁m + (1 − β₁)g, v = β₂v + (1 − β₂)g², m̂ = m/(1 − β₁ᵗ), v̂ = v/(1 − β₂ᵗ),"
        " θ(t+1) = θ̃ − α m̂/(√v̂ + ε); step t = {t}, α = {lr}, β₁ = {beta1}, β₂ = {beta2}, ε = {eps}{decay}."
    ),
    "intro.update.rmsprop": (
        "RMSprop (torch.optim.RMSprop): v = ρv + (1 − ρ)g², θ(t+1) = θ(t) − α g/(√v + ε) (with momentum μ > 0:"
        " B = μB + g/(√v + ε), θ(t+1) = θ(t) − αB); α = {lr}, ρ = {alpha}, ε = {eps}, μ = {momentum}{decay};"
        " v is 0 before the first step."
    ),
    "intro.update.rmsprop.centered": (
        "Centered RMSprop (torch.optim.RMSprop): v = ρv + (1 − ρ)g², ḡ = ρḡ + (1 − ρ)g,"
        " θ(t+1) = θ(t) − α g/(√(v − ḡ²) + ε) (with momentum μ > 0 through B = μB + g/(√(v − ḡ²) + ε));"
        " α = {lr}, ρ = {alpha}, ε = {eps}, μ = {momentum}{decay}."
    ),
    "group.layer": "Layer {layer} ({inputs} → {units}, {activation})",
    "group.output_layer": "Output layer {layer} ({inputs} → {units}, {activation})",
    "group.sample": "Sample {sample}: x = {x}, y = {y}",
    "group.loss": "Loss",
    "group.output_delta": "Output layer {layer}",
    "group.hidden_delta": "Layer {layer}",
    "note.frozen": "frozen: the bias stays as it is",
    "note.sum_to_one": "since {total} = 1",
    "note.bce_sigmoid": "with a sigmoid output, δ simplifies to (ŷ − y)/N",
    "table.parameter": "parameter",
    "table.before": "before",
    "table.gradient": "∂𝓛/∂θ",
    "table.after": "after",
    "loss.before_after": "Loss before the update {before}, after {after}",
    "rounding.carry": (
        "Rounding: every line is rounded to {precision} decimals before the next uses it,"
        " as on paper."
    ),
    "rounding.exact": "Values are exact float64; printed to {precision} decimals.",
    "form.matrix": "Matrix form",
    "matrix.shape": "{rows} × {cols}",
    "matrix.elided": "rows and columns beyond {limit} are elided in the middle (⋯, ⋮)",
}
MESSAGES.update({
    "group.output_delta.sample": "Sample {sample}: output layer {layer}",
    "group.hidden_delta.sample": "Sample {sample}: layer {layer}",
    "group.update_layer": "Layer {layer}",
})
MESSAGES.update({
    "intro.forward.matrix": (
        "The whole batch at once: row n of every matrix is sample n ({samples}). Each"
        " layer multiplies its inputs by the transposed weights, adds the bias row, then applies"
        " its activation element by element."
    ),
    "intro.backward.matrix": (
        "The chain rule in matrices, from the output back: δ⁽ˡ⁾ = ∂𝓛/∂Z⁽ˡ⁾, then"
        " ∂𝓛/∂W⁽ˡ⁾ = δ⁽ˡ⁾ᵀA⁽ˡ⁻¹⁾ (summed over the samples by the product), ∂𝓛/∂b⁽ˡ⁾ = 1ᵀδ⁽ˡ⁾"
        " (column sums) and δ⁽ˡ⁻¹⁾ = (δ⁽ˡ⁾W⁽ˡ⁾) ⊙ f′(Z⁽ˡ⁻¹⁾)."
    ),
    "intro.forward.matrix_transposed": (
        "The whole batch at once: row n of every matrix is sample n ({samples}). W⁽ˡ⁾ is written"
        " inputs × units (z = Wᵀx for one sample, torch's weight transposed): each layer multiplies its"
        " inputs by the weights, adds the bias row, then applies its activation element by element."
    ),
    "intro.backward.matrix_transposed": (
        "The chain rule in matrices, from the output back: δ⁽ˡ⁾ = ∂𝓛/∂Z⁽ˡ⁾, then"
        " ∂𝓛/∂W⁽ˡ⁾ = A⁽ˡ⁻¹⁾ᵀδ⁽ˡ⁾ (summed over the samples by the product), ∂𝓛/∂b⁽ˡ⁾ = 1ᵀδ⁽ˡ⁾"
        " (column sums) and δ⁽ˡ⁻¹⁾ = (δ⁽ˡ⁾W⁽ˡ⁾ᵀ) ⊙ f′(Z⁽ˡ⁻¹⁾)."
    ),
    "intro.forward.maps": (
        "The whole batch at once: row n of every matrix is sample n ({samples}), its feature maps"
        " flattened channel by channel, row by row (and drawn again as grids where there are few). Each"
        " layer's lines say what it computes: a convolution slides its kernels over the maps, a pooling"
        " layer takes each window's largest value or mean, a dense layer multiplies by its weights."
    ),
    "matrix.broadcast": "{bias} is one row, added to each of the {samples} rows (broadcast)",
    "matrix.elementwise": "element by element",
    "matrix.softmax": "softmax row by row: each row of Z is one sample's logits",
    "matrix.log_softmax": "log_softmax row by row: Z minus the log of each row's sum of exp (its maximum taken out)",
    "matrix.delta_log_softmax": "log_softmax's Jacobian I − 1 exp(ŷ)ᵀ, applied row by row",
    "matrix.column_sums": "the column sums of δ add up the {samples} samples' contributions",
    "matrix.delta_softmax_ce": (
        "softmax and cross-entropy differentiated together: ∂𝓛/∂Z = (Ŷ − Y)/{n}, because"
        " every row of Y sums to 1"
    ),
    "matrix.delta_softmax_ce_general": (
        "softmax and cross-entropy differentiated together: each row of Ŷ is scaled by the sum"
        " of that row of Y, then Y is subtracted and the result divided by {n}"
    ),
    "matrix.delta_softmax_ce_positions": (
        "softmax and cross-entropy differentiated together at every position: ∂𝓛/∂Z = (Ŷ − Y)/{n}"
        " ({samples} sample(s) × {positions} positions, the mean CrossEntropyLoss takes), because each"
        " position's block of Y sums to 1"
    ),
    "matrix.delta_softmax_ce_positions_general": (
        "softmax and cross-entropy differentiated together at every position: each position's block of Ŷ"
        " is scaled by the sum of that block of Y, then Y is subtracted and the result divided by {n}"
        " ({samples} sample(s) × {positions} positions)"
    ),
    "matrix.delta_softmax": "softmax's Jacobian diag(ŷ) − ŷŷᵀ, applied row by row",
    "matrix.delta_sigmoid_bce": (
        "with a sigmoid output and bce the factors Ŷ(1 − Ŷ) cancel: δ = {simplified}"
    ),
    "section.graph": "Computation graph",
    "title.graph": "Computation graph: the loss and everything it depends on",
    "intro.graph": (
        "Every node with its value and, where the step computes it, the gradient of the loss with"
        " respect to it; arrows run from each input to what it feeds."
    ),
    "intro.graph.batch": (
        "Every node with its values, one for each of the {count} samples, and the parameters with"
        " the batch gradient ∂𝓛/∂θ; arrows run from each input to what it feeds."
    ),
    "graph.seen": "expanded above",
    "train.title": "Training",
    "train.optimizer.sgd": "SGD, learning rate α = {lr}{decay}",
    "train.optimizer.momentum": "SGD with momentum μ = {momentum}, learning rate α = {lr}{decay}",
    "train.optimizer.adam": "Adam with β₁ = {beta1}, β₂ = {beta2}, ε = {eps}, learning rate α = {lr}{decay}",
    "train.optimizer.adamw": "AdamW with β₁ = {beta1}, β₂ = {beta2}, ε = {eps}, learning rate α = {lr}{decay}",
    "train.optimizer.rmsprop": "RMSprop with ρ = {alpha}, ε = {eps}, μ = {momentum}, {decay}learning rate α = {lr}",
    "train.network": "{widths}, {activations}; loss {loss}",
    "train.optimizer": "Optimizer",
    "train.data": "Data",
    "train.data.summary": "{data}, {samples}; {batches}",
    "samples.one": "1 sample",
    "train.batches.full": "full batch, one update per epoch",
    "train.batches.size": "batches of {size}, {updates} updates per epoch",
    "train.batches.shuffled": "batches of {size} shuffled with seed {seed}, {updates} updates per epoch",
    "train.engine": "Engine",
    "train.engine.summary": "{backend} on {device}, {dtype}",
    "train.engine.auto": "{backend} on {device}, {dtype} (auto: {reason})",
    "train.run": "Run",
    "train.run.summary": "{epochs} epochs in {seconds} s ({rate} epochs/s)",
    "train.interrupted": "Stopped by Ctrl-C after {done} of {asked} epochs.",
    "train.loss": "Loss",
    "train.loss.intro": "The loss over all the data before each epoch's updates.",
    "train.loss.final": "After the last epoch: {loss}",
    "train.curve": "Loss curve",
    "train.curve.log": "loss on a logarithmic axis",
    "train.curve.linear": "loss on a linear axis",
    "train.parameters": "Trained parameters",
    "train.predictions": "Predictions",
    "train.predictions.more": "… and {count} more samples",
    "train.predictions.classes": "ŷ and y: the class at each position, ŷ's being its largest probability",
    "train.rows.elided": "{count} rows left out here; --format json or --output FILE.md has them all",
    "train.step": "Epoch {epoch}",
    "train.step.batch": "Epoch {epoch}, batch {batch} of {batches}",
    "train.settings": "Settings",
    "data.seed": "the seed sample",
    "data.options": "--x/--y",
    "data.spec": "the spec file's [data]",
    "table.epoch": "epoch",
    "table.loss": "loss",
    "table.layer": "layer",
    "table.weight": "weight",
    "table.bias": "bias",
    "table.sample": "sample",
    "table.input": "x",
    "table.prediction": "ŷ",
    "table.target": "y",
})
MESSAGES.update({
    "check.expected": "expected {value}",
    "check.first": "← first wrong line",
    "check.right": "✓ you wrote {given}",
    "check.wrong": "✗ you wrote {given}; this line is {expected}. {why}",
    "check.wrong.first": "✗ first wrong line: you wrote {given}; this line is {expected}. {why}",
    "check.joined": "{first} {second}",
    "check.all": "all {count} right",
    "check.some": "{right} of {count} right",
    "check.unknown": "No known mistake gives this value.",
    "check.implies": "Mistake: {mistake}; that gives {value}.",
    "mistake.missing_activation_derivative": "the activation's derivative left out of the chain rule",
    "mistake.updated_weight_used": "the backward pass using weights already updated",
    "mistake.update_sign": "an update that adds the gradient (θ + α·∂𝓛/∂θ)",
    "mistake.missing_learning_rate": "an update without the learning rate (θ − ∂𝓛/∂θ)",
    "mistake.sign": "a sign slip (the line's value with the opposite sign)",
    "mistake.mse_factor": "the 2 of (ŷ − y)² dropped, or kept where the loss halves it",
    "mistake.mean_vs_sum": "the sum where the mean belongs (batch or loss reduction), or the reverse",
    "mistake.swapped_index": "the weight or input of another unit in place of this one",
    "mistake.z_for_a": "the weighted sum z where the activation belongs, or the reverse",
    "mistake.rounding": "too few digits carried from earlier lines",
    "table.validation": "validation",
    "train.validation.curve": "Validation loss curve",
    "train.validation.final": ". Held-out samples ({count}): {loss}",
    "train.stopped": (
        "Stopped early before epoch {epoch}: the {loss} had not fallen by more than {delta} for"
        " {patience} epochs."
    ),
    "train.watched.validation": "validation loss",
    "train.watched.training": "loss",
    "plot.training": "training",
    "plot.validation": "validation",
    "title.verify": "Gradient check: the derivation against independent references",
    "verify.loss": "Loss",
    "table.derivation": "∂𝓛/∂θ",
    "table.autograd_abs": "autograd\n|Δ|",
    "table.fd_abs": "finite diff.\n|Δ|",
    "table.rel": "\nrel.",
    "verify.autograd": "PyTorch {version} autograd, float64: tolerance {rtol}·|ref| + {atol}·s.",
    "verify.no_torch": "PyTorch is not installed: autograd not compared (pip install torch).",
    "verify.fd_numpy": (
        "The network is large: the losses of the finite differences come from the"
        " numpy engine's matrix forward pass, not the derivation's lines."),
    "verify.fd": "Central differences, h = {step}·max(1, |θ|): tolerance {rtol}·|ref| + {atol}·s.",
    "verify.scale": "Agree: |Δ| ≤ tolerance, with s = max(1, |𝓛|, largest |∂𝓛/∂θ|) = {scale}.",
    "verify.mark.kink": "kink",
    "verify.mark.floor": "floor",
    "verify.mark.tie": "tie",
    "verify.tie": (
        "tie: two equal values in a max pool, which PyTorch's rounding tells apart. The derivation's"
        " gradient is the loss's derivative on one side of the tie and PyTorch's on the other (the"
        " one-sided differences confirm both); accepted."
    ),
    "verify.ok.ties": "Autograd's |Δ| leaves out the {ties} rows marked tie.",
    "verify.kink": (
        "kink: a unit sits where its activation has no derivative (relu at 0, abs, max, min). The"
        " gradient there is PyTorch's convention: accepted when it lies between the left and right"
        " derivatives of the loss (a subgradient), else autograd decides."
    ),
    "verify.floor": (
        "floor: an output is within 1e-12 of 0 or 1, where bce's gradient floors ŷ(1 − ŷ) at 1e-12"
        " as PyTorch's does; there it is not the derivative of the loss, so finite differences do"
        " not apply and autograd decides."
    ),
    "verify.ok.both": (
        "✓ All {count} gradients agree (largest |Δ|: autograd {autograd}, finite differences {fd})."
    ),
    "verify.ok.fd": "✓ All {count} gradients agree (largest |Δ|: finite differences {fd}).",
    "verify.ok.both.one": "✓ The gradient agrees (|Δ|: autograd {autograd}, finite differences {fd}).",
    "verify.ok.fd.one": "✓ The gradient agrees (|Δ|: finite differences {fd}).",
    "verify.fail": "✗ {failed} of {count} gradients disagree: {names}.",
})
MESSAGES.update({
    "engine.reason.option": "{option}",
    "engine.reason.shuffle": "shuffled batches",
    "engine.reason.numba": ("{epochs} epochs × {saving} µs saved an epoch over {other} outweigh {engine}'s"
                            " compilation (about {compile} s)"),
    "engine.reason.fused.cached": ("{epochs} epochs × {saving} µs saved an epoch over {other} outweigh the"
                                   " fused {engine} engine's start (about {start} s, its machine code cached)"),
    "engine.reason.fused.compile": ("{epochs} epochs × {saving} µs saved an epoch over {other} outweigh"
                                    " compiling the fused {engine} engine once for this machine (about {start} s)"),
    "engine.reason.compiled": "{parameters} parameters × {samples}: small enough to compile",
    "engine.reason.numpy": "{parameters} parameters × {samples}: matrix operations pay",
    "engine.reason.numpy.large": ("its chunked pass about {numpy} ms an epoch on {processes} process(es),"
                                  " the fused {engine} engine's about {fused} ms on {threads} thread(s)"),
    "train.run.epochs": "{epochs} epochs",
    "train.curve.log10": "log₁₀ loss",
    "train.progress.rate": "{rate} epochs/s",
    "plot.title": "{widths}, {loss}, {optimizer} (lr {lr}): final loss {final}",
    "plot.epoch": "epoch",
    "plot.loss": "loss (before the epoch's updates)",
})

# The layer kinds beyond dense (layers/): their headings and remarks.
MESSAGES.update({
    "engine.reason.kinds": "{kinds} layers: the matrix form",
    "status.step": "Working out the step…",
    "status.train": "Training…",
    "status.verify": "Checking every gradient…",
    "kind.activation.title": "Layer {layer} (activation {activation}, {units} units)",
    "kind.dropout.title": "Layer {layer} (dropout, p = {p}, {units} units)",
    "kind.dropout.mask": (
        "M is the mask of kept units (1) per sample; kept units are scaled by 1/(1 − p), as in training"
    ),
    "kind.dropout.mask_drawn": (
        "M is the mask of kept units (1) per sample, drawn with probability 1 − p from seed {seed};"
        " kept units are scaled by 1/(1 − p), as in training"
    ),
    "kind.batch_norm.title": "Layer {layer} (batch norm, {units} features, ε = {eps})",
    "kind.batch_norm.mean": "the mean of each feature over the {samples} samples of the batch",
    "kind.batch_norm.variance": "the biased variance (divided by the count, not the count − 1)",
    "kind.batch_norm.running": (
        "running statistics after the step (momentum {momentum}, the variance unbiased):"
        " mean {mean}, variance {var}"
    ),
    "kind.batch_norm.running_lines": (
        "running statistics after the step, as torch updates them (momentum {momentum}; the variance"
        " unbiased, N/(N − 1) times σ²)"
    ),
    "kind.batch_norm.through_variance": "X̂ depends on σ² in every row: the rows' contributions are summed",
    "kind.batch_norm.through_mean": "μ reaches 𝓛 directly through X̂ and through σ²",
    "kind.batch_norm.three_paths": "each input reaches 𝓛 three ways: through X̂, through σ² and through μ",
    "kind.batch_norm.compact": "the same, in the compact form",
    "kind.layer_norm.title": "Layer {layer} (layer norm, {units} features, ε = {eps})",
    "kind.layer_norm.mean": "the mean of each sample over its {features} features",
    "kind.layer_norm.backward": (
        "through X̂, σ² and μ of each sample (row) at once, the compact form of batch norm's three paths,"
        " over the {features} features of a row"
    ),
    "kind.conv.title": (
        "Layer {layer} ({kind}: {inputs} → {outputs}, {channels} kernel(s) {kernel}, stride {stride},"
        " padding {padding}, {activation})"
    ),
    "kind.conv.scalar": (
        "each output element is the sum of a {kernel} window of the input times the kernel, over {channels}"
        " input channel(s), plus the channel's bias; z⁽ˡ⁾_c,i,j is output channel c at row i, column j"
    ),
    "kind.conv.matrix": (
        "⋆ is cross-correlation, as nn.Conv2d computes it: {channels} kernel(s) of {kernel} slide over the"
        " {inputs} input; each row of K holds one kernel (input channel, row, column), each row of A and"
        " Z one sample's maps ({outputs} for Z), flattened channel by channel, row by row"
    ),
    "kind.conv.kernel_gradient": (
        "the kernel is shared by all {positions} positions: each of its weights sums δ times the input it"
        " met, over every position and the {samples} sample(s): the correlation of the input with δ"
    ),
    "kind.conv.bias_gradient": "each channel's bias sums that channel's δ over every position and sample",
    "kind.conv.maps": (
        "the same numbers as {shape} feature maps, a grid per channel (the sample's number after the layer's)"
    ),
    "kind.conv.unfold": (
        "im2col: the input unfolded, a row per position of the kernel ({positions} per sample, {samples}"
        " sample(s)), holding the window's inputs in the order of K's columns"
    ),
    "kind.conv.im2col": (
        "the same numbers as Z, now as one matrix product: a row per position, a column per output channel"
    ),
    "kind.conv.kernels": "each kernel as a grid; its subscript o,c: from input channel c to output channel o",
    "kind.conv.input_gradient": (
        "∗ is the full convolution: each input gathers δ·K from every window it was in (δ padded, the"
        " kernel flipped)"
    ),
    "kind.rnn.title": (
        "Layer {layer} ({kind}, {nonlinearity}: {steps} steps of {features} → hidden"
        " {hidden}, output {output})"
    ),
    "kind.lstm.title": "Layer {layer} ({kind}: {steps} steps of {features} → hidden {hidden}, output {output})",
    "kind.gru.title": "Layer {layer} ({kind}: {steps} steps of {features} → hidden {hidden}, output {output})",
    "kind.recurrent.inputs": (
        "the input unrolled in time: X_t holds step t of every sample (a row per"
        " sample), t = 1…{steps}"
    ),
    "kind.recurrent.h0": "the initial hidden state, as given (h0)",
    "kind.recurrent.zero": "the initial state: zeros, as torch starts without h0",
    "kind.recurrent.gates": (
        "torch stacks the gates' rows in W_ih, W_hh, b_ih and b_hh in the order {gates}; each gate's rows"
        " by name"
    ),
    "kind.recurrent.last": "{setting}: the layer's output is the last hidden state",
    "kind.recurrent.all": (
        "{setting}: the layer's output is every hidden state, H_1 … H_{steps}"
        " side by side ({hidden} each)"
    ),
    "kind.recurrent.backward_last": "backpropagation through time, from the last step down to the first",
    "kind.recurrent.backward_sum": (
        "∂𝓛/∂H_t sums what comes from the output at t and what step t + 1 hands back through W_hh"
    ),
    "kind.recurrent.bptt": (
        "{setting}: truncated BPTT, as a PyTorch loop that runs {steps} steps at a time and detaches the"
        " state between chunks (h.detach()); the gradient goes back at most to the start of its chunk"
    ),
    "kind.recurrent.detached": (
        "{state} ends a chunk: the next chunk read it detached, so only the output's part comes back to it"
    ),
    "kind.recurrent.scalar_sum": (
        "∂𝓛/∂h_t,j sums what every node that reads h_t,j hands back: the output at t (where the layer's"
        " output holds it) and every gate of step t + 1"
    ),
    "kind.recurrent.scalar_shared": (
        "the weights are shared by all {steps} steps: each gradient has a term per step (and sample)"
    ),
    "kind.recurrent.vanishing": (
        "|∂𝓛/∂H_t| for t = 1…T (the norm over the batch): each step back multiplies it by {ratios}"
    ),
    "kind.recurrent.shared": (
        "the weights are shared by all {steps} steps: each gradient is the sum of one term per step"
    ),
    "kind.recurrent.stacked": "the gates' δ side by side ({gates}), as W_ih's rows stack them",
    "kind.recurrent.input_gradient": "each step's input gets δ_t W_ih, side by side as the input's rows hold them",
    "kind.rnn.step": "each step: the input's part and the previous state's part, then the nonlinearity",
    "kind.lstm.i": "the input gate i: how much of the candidate g enters the cell",
    "kind.lstm.f": "the forget gate f: how much of the cell is kept",
    "kind.lstm.g": "the candidate g (tanh)",
    "kind.lstm.o": "the output gate o: how much of the cell is shown",
    "kind.lstm.c": "the cell: kept part plus new part",
    "kind.lstm.dc": "∂𝓛/∂C_t: through H_t = O_t ⊙ tanh(C_t), plus what Cₜ₊₁ = Fₜ₊₁ ⊙ C_t + … hands back",
    "kind.gru.r": "the reset gate r",
    "kind.gru.z": "the update gate z",
    "kind.gru.n": "the candidate n, torch's form: r multiplies the hidden part after its bias",
    "kind.gru.h": "the new state: (1 − z) of the candidate, z of the old state",
    "kind.gru.backward": "each gate's δ (before its activation), from ∂𝓛/∂H_t",
    "kind.gru.delta_h": "what reaches W_hh and b_hh: r, z as above, and δ_n ⊙ R_t for the n gate's hidden part",
    "kind.recurrent.dense_title": (
        "Layer {layer} ({inputs} → {units} at each of {steps} steps, {activation})"
    ),
    "kind.recurrent.dense_steps": (
        "the same weights at every time step, as nn.Linear on (N, T, H): each row holds {steps} steps of"
        " {inputs} side by side, and each step's block is multiplied by Wᵀ on its own"
    ),
    "kind.recurrent.softmax_steps": (
        "softmax at each of the {steps} steps: each step's block of {units} logits on its own, as"
        " nn.Softmax(dim=-1) on (N, T, {units})"
    ),
    "kind.recurrent.dense_shared": (
        "W is shared by all {steps} steps: its gradient sums δ_tᵀ A_t over the steps and the samples"
    ),
    "kind.positional.title": "Layer {layer} (sinusoidal positions added, {steps} positions × {dim})",
    "kind.positional.title_learned": "Layer {layer} (learned positions added, {steps} positions × {dim})",
    "kind.positional.sinusoidal": (
        "fixed: P[pos, 2i] = sin(pos / 10000^(2i/{dim})), P[pos, 2i+1] = cos(pos / 10000^(2i/{dim})),"
        " one row per position"
    ),
    "kind.positional.learned": (
        "learned: one row per position, as nn.Embedding({steps}, d) looked up at the positions 0 … {steps} − 1"
    ),
    "kind.positional.added": "row t of P is added to position t of every sample ({steps} positions side by side)",
    "kind.positional.gradient": (
        "each position's block of ∂𝓛/∂A summed over the samples; ∂𝓛/∂(input) is ∂𝓛/∂A itself"
    ),
    "kind.embedding.title": "Layer {layer} (embedding: {vocabulary} tokens × {dim}, over {steps} positions)",
    "kind.embedding.one_hot": (
        "the tokens at position t as one-hot rows of {vocabulary}: a 1 in the column of each sample's token id"
    ),
    "kind.embedding.rows": "a one-hot row times E picks the token's row of E (nn.Embedding looks it up)",
    "kind.embedding.output": (
        "the layer's output is every position's vector, A_1 … A_{steps} side by side ({dim} each)"
    ),
    "kind.embedding.blocks": "each position's block of ∂𝓛/∂A ({dim} values)",
    "kind.embedding.unused": (
        "row v of ∂𝓛/∂E sums ∂𝓛/∂A_t over the positions whose token is v; rows {rows} (tokens not in the"
        " batch) get no gradient"
    ),
    "kind.embedding.unused_one": (
        "row v of ∂𝓛/∂E sums ∂𝓛/∂A_t over the positions whose token is v; row {rows} (a token not in the"
        " batch) gets no gradient"
    ),
    "kind.embedding.all_used": (
        "row v of ∂𝓛/∂E sums ∂𝓛/∂A_t over the positions whose token is v; every token is in the batch"
    ),
    "group.clip": "Gradient clipping, {how}",
    "clip.norm": "the 2-norm of the {count} gradients together, as torch's clipping measures it",
    "clip.scale": "clip_grad_norm_ multiplies every gradient by min(1, {limit} / (norm + 1e-6))",
    "clip.value": "clip_grad_value_ clamps every gradient to [−{limit}, {limit}]",
    "clip.after": "the 2-norm after clipping; the update uses the clipped gradients",
    "kind.pool.title": "Layer {layer} ({kind}: {inputs} → {outputs}, window {kernel}, stride {stride})",
    "kind.pool.max_scalar": (
        "the largest value of each window; ∂a/∂x is 1 for the input that was the maximum (the first on a"
        " tie) and 0 for the others: the gradient goes to the maximum only"
    ),
    "kind.pool.avg_scalar": "the mean of each window of {size}: every input gets an equal share of the gradient",
    "kind.pool.max_matrix": "the largest value of each {kernel} window (stride {stride}), channel by channel",
    "kind.pool.avg_matrix": "the mean of each {kernel} window (stride {stride}), channel by channel",
    "kind.pool.max_backward": (
        "each window's gradient goes to the input that was its maximum (the first on a tie), 0 to the"
        " others; overlapping windows add"
    ),
    "kind.pool.avg_backward": "each window's gradient shared equally by its {size} inputs; overlapping windows add",
    "kind.flatten.title": "Layer {layer} (flatten: {inputs} → {units})",
    "kind.flatten.scalar": (
        "the maps read as one vector, channel by channel, row by row: the numbers are unchanged and the"
        " gradient passes straight back"
    ),
    "kind.flatten.matrix": (
        "each sample's {shape} maps as one row, channel by channel, row by row: the numbers (and, backward,"
        " the gradient) are unchanged"
    ),
    "kind.unused": "no later node uses it (the window steps over it): its gradient is 0",
    "kind.elided": "{total} terms, {shown} of them shown (⋯ stands for the others); the value sums all {total}",
    "kind.residual.title": "Layer {layer} (residual connection, {units} units)",
    "intro.forward.kinds": (
        "Unit by unit: each layer's nodes from the nodes before them; layer l's unit j is a⁽ˡ⁾ⱼ, a"
        " sample's number after it."
    ),
    "intro.backward.kinds": (
        "The chain rule, node by node from the output back: ∂𝓛/∂v sums ∂𝓛/∂u · ∂u/∂v over the nodes u"
        " that use v, each ∂u/∂v from u's line. A parameter every sample uses sums over them."
    ),
    "kind.residual.forward": "the block's input added to its output: the skip connection",
    "kind.residual.backward": "two paths meet here: straight along the skip connection, and back through the block",
})

# Names of functions, losses and layer kinds as the page's sentences put them (locales.name).
MESSAGES.update({
    "name.sigmoid": "sigmoid",
    "name.tanh": "tanh",
    "name.relu": "relu",
    "name.leaky_relu": "leaky_relu",
    "name.identity": "identity",
    "name.softmax": "softmax",
    "name.log_softmax": "log_softmax",
    "name.bce": "bce",
    "name.mse": "mse",
    "name.sse": "sse",
    "name.half_sse": "half_sse",
    "name.cross_entropy": "cross_entropy",
    "name.nll": "nll",
    "name.l1": "l1",
    "name.smooth_l1": "smooth_l1",
    "name.dropout": "dropout",
    "name.batch_norm": "batch norm",
    "name.layer_norm": "layer norm",
    "name.conv1d": "conv1d",
    "name.conv2d": "conv2d",
    "name.max_pool1d": "max_pool1d",
    "name.max_pool2d": "max_pool2d",
    "name.avg_pool1d": "avg_pool1d",
    "name.avg_pool2d": "avg_pool2d",
    "name.flatten": "flatten",
    "name.residual": "residual",
    "name.embedding": "embedding",
    "name.positional_sinusoidal": "sinusoidal positions",
    "name.positional_learned": "learned positions",
    "name.positional": "positional",
    # A function defined piece by piece (relu's derivative): the words around its conditions.
    "intro.update.order": (
        "The output layer first, in the reverse order of the layers, as the backward pass went: every"
        " update uses the gradients worked out above, before any parameter changed, so the order changes"
        " no number."
    ),
    "why.chain_rule": (
        "The chain rule in general: a hidden unit j passes back the errors of the units k it feeds, each"
        " through the weight between them, times its own slope: δⱼ = f′(zⱼ) Σₖ Wₖⱼ δₖ (Wₖⱼ the weight"
        " from unit j to unit k). Each δ below is this sum worked out: ∂𝓛/∂a first, then times ∂a/∂z."
    ),
    "why.sigmoid_bce": (
        "Why δ is {result}: the sigmoid's slope cancels the denominator of bce's derivative,"
        " δ = ∂𝓛/∂ŷ · ∂ŷ/∂z = {derivative} · {slope} = {result}."
    ),
    "why.softmax_ce": (
        "Why δᵢ = ŷᵢ − yᵢ: with ŷᵢ = exp(zᵢ)/Σⱼ exp(zⱼ), the loss is −Σₖ yₖ log ŷₖ = −Σₖ yₖzₖ + (Σₖ yₖ)"
        " log Σⱼ exp(zⱼ), so ∂𝓛/∂zᵢ = −yᵢ + (Σₖ yₖ) exp(zᵢ)/Σⱼ exp(zⱼ) = ŷᵢ Σₖ yₖ − yᵢ, which is ŷᵢ − yᵢ"
        " when the targets sum to 1."
    ),
    "why.dead_unit": (
        "{delta} = 0: the activation is flat at {z} = {value} (its slope there is 0, a dead ReLU), so no"
        " error passes through this unit: {parameters} get zero gradients and do not move this step."
    ),
    "why.no_error": (
        "{delta} = 0: no error reaches this unit, so {parameters} get zero gradients and do not move this step."
    ),
    "why.dead_units_batch": (
        "Column(s) {units} of {delta} are 0 for every one of the {samples} sample(s): no error passes through"
        " those units (a dead ReLU, or nothing reaching them), so their rows of {weight} and their biases"
        " get zero gradients and do not move this step."
    ),
    "why.vanishing": (
        "|δ| shrinks layer after layer on the way back: the mean |δ| of each layer, from the output back,"
        " is {sizes}. Each step back multiplies the errors by the weights and by the activation's slope"
        " (a sigmoid's is at most 0.25), so the layers nearest the input change least: the vanishing gradient."
    ),
    "intro.forward.transposed": (
        "Each unit takes the weighted sum z of its inputs plus its bias, then applies its activation."
        " The weights are numbered as for z = Wᵀx, input by input: W₁ from x₁ to the first unit, W₂ from"
        " x₁ to the second … (torch's weight transposed)."
    ),
    "intro.update.momentum.textbook": (
        "SGD with momentum μ = {momentum}, written v(t+1) = μ v(t) − α ∂𝓛/∂θ, θ(t+1) = θ(t) + v(t+1)"
        " (v = βv − αg in many books), with α = {lr}{decay}; v is 0 before the first step. The numbers are"
        " torch.optim.SGD's: its v = μv + g is this v divided by −α, the same method while α stays the same."
    ),
    "table.iteration": "after iteration",
    "train.loss.intro.after": (
        "The loss over all the data after iteration i: i updates done, 0 is the start."
    ),
    "figure.title": "The network",
    "figure.too_many": "No figure: a layer has more than {units} units (--no-figure leaves out this line).",
    "figure.too_wide": "No figure: the drawing is wider than the page.",
    "math.cases.separator": " ",
    "math.case.text": "{value} if {condition}",
    "math.otherwise.text": "else {value}",
    "math.case.latex": r"{value} & \text{{if }} {condition}",
    "math.otherwise.latex": r"{value} & \text{{otherwise}}",
    "math.case.mathml": "<mtd>{value}</mtd><mtd><mtext>if </mtext>{condition}</mtd>",
    "math.otherwise.mathml": "<mtd>{value}</mtd><mtd><mtext>otherwise</mtext></mtd>",
})

# Attention (layers/attention.py): Q, K, V, the scores, the softmax by rows, the heads.
MESSAGES.update({
    "kind.attention.title": (
        "Layer {layer} (self-attention: {steps} tokens of d = {d}, {heads} head(s) of d_k = {dk})"
    ),
    "kind.attention.title_causal": (
        "Layer {layer} (causal self-attention: {steps} tokens of d = {d}, {heads} head(s) of d_k = {dk})"
    ),
    "kind.attention.tokens": (
        "the input as tokens: a row per token ({steps} per sample, {samples} sample(s)), d = {d} features each"
    ),
    "kind.attention.query": (
        "the queries: what each token looks for; W_Q, W_K, W_V are in_proj_weight's rows, b_Q, b_K, b_V"
        " in_proj_bias's, as nn.MultiheadAttention stacks them"
    ),
    "kind.attention.key": "the keys: what each token offers to be found by",
    "kind.attention.value": "the values: what each token passes on",
    "kind.attention.scores": "the scores: every query against every key, scaled by 1/√d_k (d_k = {dk})",
    "kind.attention.scores_heads": (
        "the scores of one sample and one head: its {steps} tokens' rows of Q and K, the head's d_k = {dk}"
        " columns (head h: columns (h − 1)·d_k + 1 … h·d_k); every query against every key, scaled by 1/√d_k"
    ),
    "kind.attention.softmax": (
        "the attention weights: softmax by rows, so that each token's weights over the tokens sum to 1"
    ),
    "kind.attention.causal": (
        "the causal mask M: 0 on and below the diagonal, −∞ above, so a token sees itself and the tokens"
        " before it; softmax by rows (a masked weight is 0)"
    ),
    "kind.attention.weighted": "each token's output: the values mixed by its weights",
    "kind.attention.output": "the output projection W_O (out_proj)",
    "kind.attention.output_heads": (
        "H: the {heads} head(s) side by side, the samples' tokens one under the other; then the output"
        " projection W_O (out_proj)"
    ),
    "kind.attention.flat": "each sample's {steps} tokens of {d} side by side in its row, as the next layer reads them",
    "kind.attention.back_rows": "∂𝓛/∂O, a row per token ({steps} per sample, {d} each)",
    "kind.attention.back_output": "the output projection's gradients, summed over every token of every sample",
    "kind.attention.back_weights": "H = AV: ∂𝓛/∂A = ∂𝓛/∂H Vᵀ and ∂𝓛/∂V = Aᵀ ∂𝓛/∂H",
    "kind.attention.back_weights_heads": (
        "H = AV for one sample and one head (its tokens' rows and its columns of ∂𝓛/∂H):"
        " ∂𝓛/∂A = ∂𝓛/∂H Vᵀ and ∂𝓛/∂V = Aᵀ ∂𝓛/∂H"
    ),
    "kind.attention.back_softmax": (
        "the softmax's Jacobian, row by row: ∂𝓛/∂S = A ⊙ (∂𝓛/∂A − rowsum(∂𝓛/∂A ⊙ A)); a masked weight"
        " is 0, and so is its gradient"
    ),
    "kind.attention.back_scores": "S = QKᵀ/√d_k: ∂𝓛/∂Q = ∂𝓛/∂S K/√d_k and ∂𝓛/∂K = ∂𝓛/∂Sᵀ Q/√d_k",
    "kind.attention.back_projections": "each projection's gradient sums over every token of every sample",
    "kind.attention.back_projections_heads": (
        "∂𝓛/∂Q, ∂𝓛/∂K, ∂𝓛/∂V: the {heads} head(s) joined side by side again, the samples one under the"
        " other; each projection's gradient sums over every token of every sample"
    ),
    "kind.attention.back_stacked": "∂𝓛/∂W_Q, ∂𝓛/∂W_K, ∂𝓛/∂W_V stacked, as in_proj_weight holds them",
    "kind.attention.back_input": "X feeds Q, K and V: three paths, summed",
    "kind.attention.flat_back": "each sample's {steps} tokens of {d} side by side again",
    "kind.attention.scalar_scores": (
        "the scores, one by one: s_t,u = Σ_j q_t,j k_u,j / √d_k, token t's query against token u's key (d_k = {dk})"
    ),
    "kind.attention.scalar_scores_heads": (
        "the scores of each of the {heads} heads (the first index): s_h,t,u = Σ_j q_t,j k_u,j / √d_k over the"
        " head's d_k = {dk} columns j (head h: columns (h − 1)·d_k + 1 … h·d_k)"
    ),
    "kind.attention.scalar_causal": (
        "the causal mask: s_t,u = −∞ for u > t, so token t sees itself and the tokens before it; softmax of"
        " row t over u ≤ t, and a masked weight a_t,u is 0"
    ),
    "kind.layer_norm.title_tokens": "Layer {layer} (layer norm at each of {steps} tokens, {units} features, ε = {eps})",
    "kind.layer_norm.tokens": (
        "a row per token ({steps} per sample): nn.LayerNorm on (N, T, d) normalizes each token on its own"
    ),
    "kind.layer_norm.mean_tokens": "the mean of each token over its {features} features",
    "kind.layer_norm.backward_tokens": (
        "through X̂, σ² and μ of each token (row) at once, the compact form of batch norm's three paths,"
        " over the {features} features of a token"
    ),
    "kind.layer_norm.flat": "each sample's {steps} tokens side by side in its row again",
    "name.attention": "attention",
    "name.causal": "causal",
})
