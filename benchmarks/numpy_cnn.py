"""The benchmark CNN written by hand in plain NumPy: forward, backward and SGD with momentum, no
autograd. It is the floor that minigrad's engine overhead is measured against. Read run.py next.

Techniques (the known-fast ones on CPU, the same that minigrad uses):
  - NHWC memory: the channel axis is innermost, so every conv is one GEMM over contiguous rows.
  - im2col: the K*K windows as a zero-copy strided view of the padded input, copied once into a
    preallocated cols buffer (B*H*W, K*K*C + 1) whose last column is ones, so the GEMM
    cols @ [W; b] adds the bias and cols^T @ dout yields db as its last row.
  - col2im: one batched GEMM gives the per-offset input gradients (K*K, B*H*W, C), each
    contiguous, added into the padded gradient with K*K slice `+=`s.
  - max-pool 2x2 as the max of four strided slices, with a first-wins mask per slice, and the
    ReLU after it (they commute), so ReLU runs on the 4x smaller array; dx = dout * mask.
  - BatchNorm: per-channel sums as a GEMV (ones @ rows) and einsum, and the per-channel
    scale/shift passes on rows viewed H*W at a time against the parameters tiled H*W times.
`python -m benchmarks.numpy_cnn --check` compares loss and gradients with minigrad and PyTorch.
"""

import argparse

import numpy as np

from benchmarks.models import LR, MOMENTUM, cnn_batch, cnn_layer_names, cnn_weights

# --------------------------------------------------------------------------- layers (NHWC)


class Conv:
    """Conv2d with an odd K x K kernel, stride 1, padding K // 2 ("same"), on NHWC arrays.

    The parameters live in one GEMM matrix w_aug (K*K*C + 1, F): w (row (i*K + j)*C + c, from
    PyTorch's (F, C, K, K)) and, as its last row, b; self.w and self.b are views of it."""

    def __init__(self, w, b, need_dx=True):
        F, C, K, _ = w.shape
        self.K, self.C, self.F = K, C, F
        self.w_aug = np.empty((K * K * C + 1, F), np.float32)
        self.w_aug[:-1] = w.transpose(2, 3, 1, 0).reshape(K * K * C, F)
        self.w_aug[-1] = b
        self.w, self.b = self.w_aug[:-1], self.w_aug[-1]
        self.need_dx = need_dx
        self.padded = self.cols = None

    def _buffers(self, x):
        """The zero-bordered padded input and the cols buffer, allocated once per shape."""
        B, H, W, C = x.shape
        p = self.K // 2
        if self.padded is None or self.padded.shape != (B, H + 2 * p, W + 2 * p, C):
            self.padded = np.zeros((B, H + 2 * p, W + 2 * p, C), np.float32)
            self.cols = np.empty((B * H * W, self.K * self.K * C + 1), np.float32)
            self.cols[:, -1] = 1
        return self.padded, self.cols

    def forward(self, x):
        B, H, W, C = x.shape
        K, p = self.K, self.K // 2
        padded, cols = self._buffers(x)
        padded[:, p : p + H, p : p + W, :] = x
        s = padded.strides
        windows = np.lib.stride_tricks.as_strided(
            padded, (B, H, W, K, K, C), (s[0], s[1], s[2], s[1], s[2], s[3])
        )
        np.reshape(cols[:, :-1], windows.shape, copy=False)[...] = windows
        # (B*H*W, K*K*C + 1) @ (K*K*C + 1, F): the whole conv, bias included, is one GEMM
        return (cols @ self.w_aug).reshape(B, H, W, self.F)

    def backward(self, dout):
        B, H, W, F = dout.shape
        K, p, C = self.K, self.K // 2, self.C
        dz = dout.reshape(B * H * W, F)
        dw_aug = self.cols.T @ dz
        self.dw, self.db = dw_aug[:-1], dw_aug[-1]
        if not self.need_dx:
            return None
        # (B*H*W, F) @ (K*K, F, C) -> (K*K, B*H*W, C): each offset's gradient is contiguous
        w_offsets = np.ascontiguousarray(self.w.reshape(K * K, C, F).transpose(0, 2, 1))
        dcols = np.matmul(dz, w_offsets)
        dpadded = np.zeros_like(self.padded)
        for i in range(K):
            for j in range(K):
                dpadded[:, i : i + H, j : j + W, :] += dcols[i * K + j].reshape(B, H, W, C)
        return dpadded[:, p : p + H, p : p + W, :]

    def params(self):
        return [(self.w, self.dw), (self.b, self.db)]


class ReLU:
    """y = max(x, 0);  dx = dout * (x > 0)"""

    def forward(self, x):
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout):
        return dout * self.mask

    def params(self):
        return []


class MaxPool2:
    """2x2 max-pool, stride 2, NHWC: the max of four strided slices. The gradient goes to the
    first maximum of each window in scan order (as PyTorch), so ties are not double-counted."""

    OFFSETS = ((0, 0), (0, 1), (1, 0), (1, 1))

    def forward(self, x):
        self.shape = x.shape
        slices = [x[:, a::2, b::2, :] for a, b in self.OFFSETS]
        y = np.maximum(np.maximum(slices[0], slices[1]), np.maximum(slices[2], slices[3]))
        taken = np.zeros(y.shape, bool)
        self.masks = []
        for s in slices:
            mask = (s == y) & ~taken
            taken |= mask
            self.masks.append(mask)
        return y

    def backward(self, dout):
        dx = np.empty(self.shape, np.float32)
        for (a, b), mask in zip(self.OFFSETS, self.masks):
            dx[:, a::2, b::2, :] = dout * mask
        return dx

    def params(self):
        return []


class BatchNorm:
    """BatchNorm2d on NHWC: statistics over (B, H, W) per channel (biased var in the forward,
    unbiased in the running var, momentum 0.1, eps 1e-5, as PyTorch). With xc = x - mean,
    r = 1 / sqrt(var + eps), k = gamma * r and N values a channel:

        y = xc * k + beta;  dx = k * dout - xc * (k * r * sum(dout * xhat) / N) - k * sum(dout) / N

    Arrays are seen as rows (B*H*W, C); the per-channel passes as (B, H*W*C) against the
    parameters tiled H*W times (long inner loops)."""

    def __init__(self, gamma, beta, momentum=0.1, eps=1e-5):
        self.gamma, self.beta = gamma.copy(), beta.copy()
        self.running_mean = np.zeros_like(gamma)
        self.running_var = np.ones_like(gamma)
        self.momentum, self.eps = momentum, eps
        self.training = True

    def _affine(self, a, scale, shift=None):
        """a * scale (+ shift) per channel, on (B, H*W*C) against tiled parameters."""
        B, H, W, C = a.shape
        wide = a.reshape(B, H * W * C)
        out = wide * np.tile(scale, H * W)
        if shift is not None:
            out += np.tile(shift, H * W)
        return out.reshape(a.shape)

    def forward(self, x):
        if not self.training:
            inv = 1 / np.sqrt(self.running_var + self.eps)
            return self._affine(
                x, self.gamma * inv, self.beta - self.running_mean * self.gamma * inv
            )
        n = x.shape[0] * x.shape[1] * x.shape[2]
        ones = np.ones(n, np.float32)
        mean = ones @ x.reshape(n, -1) / n
        self.centred = self._affine(x, np.ones_like(mean), -mean)
        rows = self.centred.reshape(n, -1)
        var = np.einsum("nc,nc->c", rows, rows) / n
        self.inv = 1 / np.sqrt(var + self.eps)
        m = self.momentum
        self.running_mean = (1 - m) * self.running_mean + m * mean
        self.running_var = (1 - m) * self.running_var + m * var * (n / (n - 1))
        return self._affine(self.centred, self.gamma * self.inv, self.beta)

    def backward(self, dout):
        n = dout.shape[0] * dout.shape[1] * dout.shape[2]
        rows = dout.reshape(n, -1)
        self.dbeta = np.ones(n, np.float32) @ rows
        self.dgamma = self.inv * np.einsum("nc,nc->c", rows, self.centred.reshape(n, -1))
        k = self.gamma * self.inv
        dx = self._affine(dout, k)
        dx -= self._affine(self.centred, k * self.inv * self.dgamma / n, k * self.dbeta / n)
        return dx

    def params(self):
        return [(self.gamma, self.dgamma), (self.beta, self.dbeta)]


class Linear:
    """y = x @ w + b with w kept as (in, out), the transpose of PyTorch's layout."""

    def __init__(self, w, b):
        self.w = np.ascontiguousarray(w.T)
        self.b = b.copy()

    def forward(self, x):
        self.x = x
        return x @ self.w + self.b

    def backward(self, dout):
        self.dw = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.w.T

    def params(self):
        return [(self.w, self.dw), (self.b, self.db)]


def cross_entropy(logits, y):
    """(mean softmax cross-entropy, its gradient (softmax - onehot) / B)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(y))
    loss = -log_probs[rows, y].mean()
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1
    dlogits /= len(y)
    return loss, dlogits


# --------------------------------------------------------------------------- the network

# fc1's input is flattened in (C, H, W) order by PyTorch and minigrad, in (H, W, C) order here
FC1_CHW = (128, 64, 7, 7)


def _fc1_to_hwc(w):
    return w.reshape(FC1_CHW).transpose(0, 2, 3, 1).reshape(128, -1)


def _fc1_to_chw(w):
    return w.reshape(128, 7, 7, 64).transpose(0, 3, 1, 2).reshape(128, -1)


class NumpyCNN:
    """The benchmark CNN (see models.py) on NHWC arrays, with SGD-momentum training."""

    def __init__(self, weights, batchnorm=False):
        self.names = cnn_layer_names(batchnorm)

        def get(layer, kind):
            return weights[f"{self.names[layer]}.{kind}"]

        def block(conv, norm):
            bn = [BatchNorm(get(norm, "weight"), get(norm, "bias"))] if batchnorm else []
            return [conv, *bn, MaxPool2(), ReLU()]  # max-pool and ReLU commute

        self.conv1 = Conv(get("conv1", "weight"), get("conv1", "bias"), need_dx=False)
        self.conv2 = Conv(get("conv2", "weight"), get("conv2", "bias"))
        self.fc1 = Linear(_fc1_to_hwc(get("fc1", "weight")), get("fc1", "bias"))
        self.fc2 = Linear(get("fc2", "weight"), get("fc2", "bias"))
        self.features = block(self.conv1, "bn1") + block(self.conv2, "bn2")
        self.head = [self.fc1, ReLU(), self.fc2]
        self.layers = self.features + self.head
        self.velocity = None

    def forward(self, x_nchw, training=True):
        """Logits (B, 10) of an NCHW batch (C = 1, so its memory is already NHWC)."""
        h = x_nchw.transpose(0, 2, 3, 1)
        for layer in self.features:
            layer.training = training
            h = layer.forward(h)
        self.pooled_shape = h.shape
        h = h.reshape(h.shape[0], -1)
        for layer in self.head:
            h = layer.forward(h)
        return h

    def loss_and_grads(self, x, y):
        """Forward and backward; the gradients are left on the layers (dw, db, ...)."""
        loss, dout = cross_entropy(self.forward(x), y)
        for layer in reversed(self.head):
            dout = layer.backward(dout)
        dout = dout.reshape(self.pooled_shape)
        for layer in reversed(self.features):
            dout = layer.backward(dout)
        return loss

    def sgd_step(self, lr=LR, momentum=MOMENTUM):
        """PyTorch's SGD: v <- momentum * v + g (v = g on the first step); p <- p - lr * v."""
        params = [pair for layer in self.layers for pair in layer.params()]
        if self.velocity is None:
            self.velocity = [g.copy() for _, g in params]
        else:
            for v, (_, g) in zip(self.velocity, params):
                v *= momentum
                v += g
        for v, (p, _) in zip(self.velocity, params):
            p -= lr * v

    def train_step(self, x, y):
        loss = self.loss_and_grads(x, y)
        self.sgd_step()
        return loss

    def state(self, grads=False):
        """Weights (or their gradients) by state-dict name, in PyTorch's layouts."""
        out = {}
        layers = {"conv1": self.conv1, "conv2": self.conv2, "fc1": self.fc1, "fc2": self.fc2}
        for name, layer in layers.items():
            w, b = (layer.dw, layer.db) if grads else (layer.w, layer.b)
            if isinstance(layer, Conv):
                K, C, F = layer.K, layer.C, layer.F
                w = w.reshape(K, K, C, F).transpose(3, 2, 0, 1)
            else:
                w = w.T
            if name == "fc1":
                w = _fc1_to_chw(w)
            out[f"{self.names[name]}.weight"] = w
            out[f"{self.names[name]}.bias"] = b
        for name, layer in zip(("bn1", "bn2"), self.bn_layers()):
            gamma, beta = (layer.dgamma, layer.dbeta) if grads else (layer.gamma, layer.beta)
            out[f"{self.names[name]}.weight"] = gamma
            out[f"{self.names[name]}.bias"] = beta
        return out

    def bn_layers(self):
        return [layer for layer in self.features if isinstance(layer, BatchNorm)]


# --------------------------------------------------------------------------- --check


def _compare(what, ours, theirs, rtol=1e-4, atol=1e-6):
    """Raise unless every array agrees to float32 tolerance, |a - b| <= atol + rtol |b|.

    Returns the largest share of that tolerance used by any entry (< 1 passes)."""
    worst = 0.0
    for key, a in ours.items():
        b = np.asarray(theirs[key], dtype=np.float32)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"{what} {key}")
        used = np.abs(a - b) / (atol + rtol * np.abs(b))
        worst = max(worst, float(used.max()))
    return worst


def _minigrad_reference(weights, batchnorm, x, y, steps, lr):
    """Loss, gradients (first step) and weights after `steps` SGD-momentum steps in minigrad."""
    import minigrad as mg
    import minigrad.functional as F
    from benchmarks.models import minigrad_cnn
    from minigrad import optim

    model = minigrad_cnn(weights, batchnorm)
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    for step in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(mg.tensor(x)), mg.tensor(y))
        loss.backward()
        if step == 0:
            first = (loss.item(), {k: p.grad.copy() for k, p in model.named_parameters()})
        optimizer.step()
    return first + ({k: p.numpy() for k, p in model.named_parameters()},)


def _torch_reference(torch, weights, batchnorm, x, y, steps, lr):
    from benchmarks.models import torch_cnn

    model = torch_cnn(torch, weights, batchnorm)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    for step in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        if step == 0:
            grads = {k: p.grad.numpy().copy() for k, p in model.named_parameters()}
            first = (loss.item(), grads)
        optimizer.step()
    return first + ({k: p.detach().numpy() for k, p in model.named_parameters()},)


def check(batch=8, steps=3):
    """Loss, gradients and the weights after `steps` updates against minigrad and PyTorch.

    The plain CNN steps with lr 0.5, large next to the weights, so a wrong update rule shows.
    The BN net steps with the benchmark lr: its later gradients are ill-conditioned in float32
    (BN of conv outputs whose mean is large next to their spread), and at lr 0.5 the float32
    rounding of any implementation grows past the tolerance by the second step."""
    from benchmarks.timing import torch_or_none

    torch = torch_or_none()
    x, y = cnn_batch(seed=5, batch=batch)
    for batchnorm, lr in ((False, 0.5), (True, LR)):
        weights = cnn_weights(seed=3, batchnorm=batchnorm)
        net = NumpyCNN(weights, batchnorm)
        loss = net.loss_and_grads(x, y)
        grads = net.state(grads=True)
        net.sgd_step(lr)
        for _ in range(steps - 1):
            net.loss_and_grads(x, y)
            net.sgd_step(lr)
        refs = {"minigrad": _minigrad_reference(weights, batchnorm, x, y, steps, lr)}
        if torch is not None:
            refs["pytorch"] = _torch_reference(torch, weights, batchnorm, x, y, steps, lr)
        for name, (ref_loss, ref_grads, ref_weights) in refs.items():
            np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
            g = _compare(f"gradient vs {name}", grads, ref_grads)
            w = _compare(f"weights after {steps} steps vs {name}", net.state(), ref_weights)
            label = "CNN+BN" if batchnorm else "CNN"
            print(
                f"{label:6s} vs {name:8s}: loss {loss:.6f} / {ref_loss:.6f}, "
                f"tolerance used: gradients {g:.2f}, weights after {steps} steps {w:.2f}"
            )
    print("numpy reference CNN agrees to float32 tolerance")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with minigrad/PyTorch")
    args = parser.parse_args()
    if args.check:
        check()
        return
    x, y = cnn_batch()
    net = NumpyCNN(cnn_weights())
    for step in range(5):
        print(f"step {step}: loss {net.train_step(x, y):.4f}")


if __name__ == "__main__":
    main()
