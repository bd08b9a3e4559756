"""recurrence_reference's loop over time (functional/recurrent.py) as one Function per layer and
direction, with backprop through time written by hand. Read last, with the rest of fast/.

Why fused: in the reference, each step reads gi[t], a slice of the one big input projection,
and the slice's backward hands the engine a full (T, B, G*H) gradient that is zero except at
step t; T steps make that T full-size allocations and additions. Here every step's gate
gradient is written into its row of one buffer, and dW_hh is one GEMM over all steps.
The measured gain is in benchmarks/README.md (the LSTM row); tests/test_recurrent.py checks
this path equal to the reference, values and gradients.

The Function returns ONE array (T + k, B, H): the T outputs, then the k final state parts (h,
or h and c): a Function has one output, and this way the final state costs no extra pass.
It saves every step's gates, so backward(create_graph=True) differentiates the reference loop
instead (each class's `reference`).
"""

from minigrad import ops
from minigrad.functional.recurrent import chunks, recurrence_reference
from minigrad.ops import sigmoid_array
from minigrad.tensor import Function

# --------------------------------------------------------------------------- the reference


def _packed_reference(mode):
    """recurrence_reference on the fused op's arguments, packed like its output (T + k, B, H)."""

    def reference(gi, w_hh, b_hh, *state, keep=None, reverse=False):
        outputs, final = recurrence_reference(mode, gi, state, w_hh, b_hh, keep, reverse)
        return ops.cat([outputs] + [ops.unsqueeze(part, 0) for part in final], dim=0)

    return reference


# --------------------------------------------------------------------------- the loop


class _Recurrence(Function):
    """Forward runs `_step` over time and keeps what `_step_back` needs; backward walks the
    steps in reverse. Positional inputs: gi (T, B, G*H), w_hh (G*H, H), b_hh (G*H,) or None,
    then the initial state parts (B, H); keyword: keep (T, B, 1) bool or None, reverse."""

    def forward(self, gi, w_hh, b_hh, *state, keep=None, reverse=False):
        xp = self.xp
        steps, batch, hidden = gi.shape[0], gi.shape[1], w_hh.shape[1]
        self.order = range(steps - 1, -1, -1) if reverse else range(steps)
        self.keep, self.w_hh, self.gi_shape = keep, w_hh, gi.shape
        self.h_in = xp.empty((steps, batch, hidden), dtype=gi.dtype, device=gi.device)
        self.saved = [None] * steps
        record = any(self.needs_input_grad)
        y = xp.empty((steps + len(state), batch, hidden), dtype=gi.dtype, device=gi.device)
        for t in self.order:
            self.h_in[t, ...] = state[0]
            gh = xp.matmul(state[0], xp.matrix_transpose(w_hh))  # (B, H) @ (H, G*H)
            if b_hh is not None:
                gh = gh + b_hh
            new, saved = self._step(gi[t, ...], gh, state)
            self.saved[t] = saved if record else None  # under no_grad, keep nothing
            if keep is None:
                y[t, ...] = new[0]
            else:
                y[t, ...] = xp.where(keep[t, ...], new[0], 0.0)
                new = tuple(xp.where(keep[t, ...], n, s) for n, s in zip(new, state))
            state = new
        for k, part in enumerate(state):
            y[steps + k, ...] = part
        return y

    def backward(self, dout):
        xp = self.xp
        steps = self.gi_shape[0]
        dstate = [dout[steps + k, ...] for k in range(dout.shape[0] - steps)]
        dgi = xp.zeros(self.gi_shape, dtype=dout.dtype, device=dout.device)
        dgh = dgi if self.same_gate_grads else xp.zeros_like(dgi)
        for t in reversed(self.order):
            dnew = [dstate[0] + dout[t, ...]] + dstate[1:]
            carried = [None] * len(dstate)
            if self.keep is not None:
                # past the end, the state went around the step: its gradient does too
                k = self.keep[t, ...]
                carried = [xp.where(k, 0.0, d) for d in dstate]
                dnew = [xp.where(k, d, 0.0) for d in dnew]
            dgi_t, dgh_t, dstate = self._step_back(self.saved[t], dnew)
            self.saved[t] = None
            dgi[t, ...] = dgi_t
            if not self.same_gate_grads:
                dgh[t, ...] = dgh_t
            dstate[0] = dstate[0] + xp.matmul(dgh_t, self.w_hh)  # through gh = h @ w_hh^T
            dstate = [d if c is None else d + c for d, c in zip(dstate, carried)]
        return self._weight_grads(dgi, dgh) + tuple(dstate)

    def _weight_grads(self, dgi, dgh):
        """dW_hh = sum over steps of dgh_t^T @ h_t: one GEMM over (T*B) rows; db_hh likewise."""
        xp = self.xp
        rows = dgh.shape[0] * dgh.shape[1]
        dgh2 = xp.reshape(dgh, (rows, dgh.shape[2]))
        h2 = xp.reshape(self.h_in, (rows, self.h_in.shape[2]))
        dw = xp.matmul(xp.matrix_transpose(dgh2), h2) if self.needs_input_grad[1] else None
        db = xp.sum(dgh2, axis=0) if self.needs_input_grad[2] else None
        return dgi, dw, db


# --------------------------------------------------------------------------- the cells


class TanhRecurrence(_Recurrence):
    """h' = tanh(a), a = gi + gh;  da = dh' * (1 - h'^2), and dgi = dgh = da"""

    reference = _packed_reference("RNN_TANH")
    same_gate_grads = True

    def _step(self, gi, gh, state):
        h = self.xp.tanh(gi + gh)
        return (h,), h

    def _step_back(self, h, dnew):
        da = dnew[0] * (1 - h * h)
        return da, da, [self.xp.zeros_like(da)]


class ReluRecurrence(_Recurrence):
    """h' = relu(a);  da = dh' * (a > 0)"""

    reference = _packed_reference("RNN_RELU")
    same_gate_grads = True

    def _step(self, gi, gh, state):
        h = self.xp.maximum(gi + gh, 0.0)
        return (h,), h

    def _step_back(self, h, dnew):
        da = self.xp.where(h > 0, dnew[0], 0.0)
        return da, da, [self.xp.zeros_like(da)]


class LSTMRecurrence(_Recurrence):
    """c' = f*c + i*g, h' = o*tanh(c');  with dc = dc' + dh' * o * (1 - tanh(c')^2):
    do = dh' tanh(c'), di = dc g, df = dc c, dg = dc i, d(c) = dc f; each gate's pre-activation
    gradient is that times its activation's derivative (s(1 - s) or 1 - g^2)."""

    reference = _packed_reference("LSTM")
    same_gate_grads = True

    def _step(self, gi, gh, state):
        xp = self.xp
        h, c = state
        a_i, a_f, a_g, a_o = chunks(gi + gh, 4)
        i, f, g, o = sigmoid_array(a_i), sigmoid_array(a_f), xp.tanh(a_g), sigmoid_array(a_o)
        c_new = f * c + i * g
        tanh_c = xp.tanh(c_new)
        return (o * tanh_c, c_new), (i, f, g, o, c, tanh_c)

    def _step_back(self, saved, dnew):
        i, f, g, o, c, tanh_c = saved
        dh, dc = dnew
        dc = dc + dh * o * (1 - tanh_c * tanh_c)
        da = self.xp.concat(
            [
                dc * g * i * (1 - i),
                dc * c * f * (1 - f),
                dc * i * (1 - g * g),
                dh * tanh_c * o * (1 - o),
            ],
            axis=-1,
        )
        return da, da, [self.xp.zeros_like(dh), dc * f]


class GRURecurrence(_Recurrence):
    """h' = n + z (h - n);  dz = dh' (h - n), dn = dh' (1 - z), d(h) = dh' z;
    a_n = gi_n + r * gh_n: dgi_n = da_n, dgh_n = da_n * r, dr = da_n * gh_n."""

    reference = _packed_reference("GRU")
    same_gate_grads = False

    def _step(self, gi, gh, state):
        xp = self.xp
        (h,) = state
        gi_r, gi_z, gi_n = chunks(gi, 3)
        gh_r, gh_z, gh_n = chunks(gh, 3)
        r = sigmoid_array(gi_r + gh_r)
        z = sigmoid_array(gi_z + gh_z)
        n = xp.tanh(gi_n + r * gh_n)
        return (n + z * (h - n),), (r, z, n, gh_n, h)

    def _step_back(self, saved, dnew):
        xp = self.xp
        r, z, n, gh_n, h = saved
        (dh,) = dnew
        da_n = dh * (1 - z) * (1 - n * n)
        da_r = da_n * gh_n * r * (1 - r)
        da_z = dh * (h - n) * z * (1 - z)
        dgi = xp.concat([da_r, da_z, da_n], axis=-1)
        dgh = xp.concat([da_r, da_z, da_n * r], axis=-1)
        return dgi, dgh, [dh * z]


RECURRENCES = {
    "RNN_TANH": TanhRecurrence,
    "RNN_RELU": ReluRecurrence,
    "LSTM": LSTMRecurrence,
    "GRU": GRURecurrence,
}


def recurrence_fast(mode, gi, state, w_hh, b_hh=None, keep=None, reverse=False):
    """recurrence_reference's contract (outputs (T, B, H), final state), fused."""
    steps = gi.shape[0]
    packed = RECURRENCES[mode].apply(gi, w_hh, b_hh, *state, keep=keep, reverse=reverse)
    outputs = packed[:steps]
    return outputs, tuple(packed[steps + k] for k in range(len(state)))
