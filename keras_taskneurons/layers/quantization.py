"""int8 quantization of a task-neuron layer's fused kernel, as Keras's
``Dense.quantize("int8")`` does it for the plain kernel.

The fused kernel holds one block per basis (``x``, ``g_1``, ...), and the
bases reach the kernel on different scales, so each block gets its own
per-output-channel scale: ``kernel_scale`` has the kernel's shape with the
summed axes set to 1 and the block axis split into ``(blocks, 1)``. The
bases themselves (and the input map, the clipping, the interaction term)
stay in float: only the kernel is stored in 8 bits.

- [TaskNeuronDense][keras_taskneurons.TaskNeuronDense] computes each block's product
  in int8: the block's features are quantized per row (absolute maximum,
  as Keras's ``Dense`` does with its inputs), multiplied by the int8 block
  with an int32 result and rescaled, and the blocks are summed.
- [TaskNeuronEinsumDense][keras_taskneurons.TaskNeuronEinsumDense] keeps the kernel in
  int8 and computes with it dequantized (weight-only int8: a quarter of the
  memory, float arithmetic).

``model.quantize("int8")`` (or ``layer.quantize("int8")``) converts a built
layer; the dtype policy becomes ``"int8_from_<policy>"``, so a saved model
reloads quantized. A quantized kernel is frozen (the other weights still
train); LoRA and pruning apply to the float layer, before quantizing.

``quantize("float8")`` is Keras's float8 *training* mode, as its ``Dense``
and ``EinsumDense`` have it: the kernel stays float and trains; in every
step the fused features and the kernel are quantized to ``float8_e4m3fn``
and back, and the output's gradient to ``float8_e5m2``, each with one scale
from the history of its absolute maxima (delayed scaling: ``inputs_scale``,
``kernel_scale``, ``outputs_grad_scale`` and their ``*_amax_history``,
variables the optimizer overwrites with their "gradients"). The bases were
sized alike (``normalize_bases``), so one scale serves the concatenated
features of every basis. The policy becomes ``"float8_from_<policy>"``.
"""

import contextlib

import keras
import numpy as np
from keras import ops

from keras_taskneurons.layers.lora import assign_in_order

QUANTIZATION_MODES = ("int8", "float8")
"""The modes ``Int8Mixin.quantize()`` accepts (Keras's others raise
``NotImplementedError``, which ``Model.quantize`` reports as a warning)."""

FLOAT8_MAX = {"float8_e4m3fn": 448.0, "float8_e5m2": 57344.0}
"""The largest finite value of each float8 format."""

FLOAT8_HISTORY = 1024
"""The amax history's length when the policy names none (Keras's default)."""


def _split_blocks(shape, blocks, axis):
    """``shape`` with ``axis`` split into ``(blocks, shape[axis] // blocks)``."""
    shape = tuple(shape)
    return shape[:axis] + (blocks, shape[axis] // blocks) + shape[axis + 1:]


def quantize_blocks(kernel, blocks, axis, summed_axes):
    """``(int8 kernel, scale)`` of a float ``kernel`` made of ``blocks``
    blocks along ``axis``: per block, the absolute maximum over the
    ``summed_axes`` of each output channel maps to 127. ``scale`` has the
    split shape (``axis`` → ``(blocks, 1)``, every summed axis 1), so
    ``kernel ≈ q / scale`` block by block."""
    kernel = np.asarray(kernel, dtype=np.float32)
    split = kernel.reshape(_split_blocks(kernel.shape, blocks, axis))
    reduce = tuple(a + 1 if a >= axis else a for a in summed_axes)
    peak = np.max(np.abs(split), axis=reduce, keepdims=True)
    scale = np.where(peak > 0, 127.0 / np.where(peak > 0, peak, 1.0), 1.0).astype(np.float32)
    q = np.clip(np.round(split * scale), -127, 127).astype(np.int8)
    return q.reshape(kernel.shape), scale


class Int8Mixin:
    """``quantize("int8")`` for a layer whose fused kernel (``self.kernel``)
    holds its bases' blocks along ``_kernel_blocks()``; see the module
    docstring. The layer adds its kernel with ``_add_kernel()`` in
    ``build`` and computes with ``_kernel_value()`` (or ``_int8_matmul()``)."""

    def _kernel_blocks(self):
        """``(blocks, block axis, summed axes)`` of the fused kernel."""
        raise NotImplementedError

    @property
    def _is_int8(self):
        return self.quantization_mode == "int8"

    @property
    def _is_float8(self):
        return self.quantization_mode == "float8"

    def _build_float8(self, force=False):
        """The float8 scales and amax histories (Keras's names, shapes and
        defaults), when the layer's policy is float8 (or ``force``); called
        last in ``build`` and by ``quantize("float8")``, so both give the
        same variable order."""
        if not (self._is_float8 or force):
            return
        length = getattr(self.dtype_policy, "amax_history_length", FLOAT8_HISTORY)
        for name, shape, initializer in (
                ("inputs_scale", (), "ones"), ("inputs_amax_history", (length,), "zeros"),
                ("kernel_scale", (), "ones"), ("kernel_amax_history", (length,), "zeros"),
                ("outputs_grad_scale", (), "ones"),
                ("outputs_grad_amax_history", (length,), "zeros")):
            variable = self.add_weight(name=name, shape=shape, initializer=initializer,
                                       dtype="float32", trainable=True, autocast=False)
            variable.overwrite_with_gradient = True  # the optimizer assigns the "gradient"
            setattr(self, name, variable)
        self._is_quantized = True

    def _float8_product(self, features, kernel, product, training, dtype):
        """``product(features, kernel)`` with both quantized to float8
        e4m3 and back, and the output's gradient to e5m2 (module
        docstring); in training, each scale's "gradient" is its next value
        and each history's its next history."""
        e4m3, e5m2 = FLOAT8_MAX["float8_e4m3fn"], FLOAT8_MAX["float8_e5m2"]
        q = keras.quantizers

        @ops.custom_gradient
        def quantized(values, scale, history):
            new_scale = new_history = None
            if training:
                new_scale = q.compute_float8_scale(ops.max(history, axis=0), scale,
                                                   ops.cast(e4m3, "float32"))
                new_history = q.compute_float8_amax_history(values, history)

            def gradient(*args, upstream=None, variables=None):
                if upstream is None:
                    (upstream,) = args
                return upstream, new_scale, new_history

            return q.quantize_and_dequantize(values, scale, "float8_e4m3fn", dtype), gradient

        @ops.custom_gradient
        def gradient_quantized(outputs, scale, history):
            def gradient(*args, upstream=None, variables=None):
                if upstream is None:
                    (upstream,) = args
                new_scale = q.compute_float8_scale(ops.max(history, axis=0), scale,
                                                   ops.cast(e5m2, "float32"))
                new_history = q.compute_float8_amax_history(upstream, history)
                return (q.quantize_and_dequantize(upstream, scale, "float8_e5m2", dtype),
                        new_scale, new_history)

            return outputs, gradient

        tensor = ops.convert_to_tensor
        outputs = product(
            quantized(features, tensor(self.inputs_scale), tensor(self.inputs_amax_history)),
            quantized(kernel, tensor(self.kernel_scale), tensor(self.kernel_amax_history)))
        return gradient_quantized(outputs, tensor(self.outputs_grad_scale),
                                  tensor(self.outputs_grad_amax_history))

    def _float8_call(self, inputs, training=None):
        """The call of a layer in float8 training mode."""
        return self.call(inputs, training=training)

    def _add_kernel(self, shape, initializer, **kwargs):
        """The fused kernel: float, or int8 with its ``kernel_scale`` when
        the layer's policy is int8 (a quantized model being loaded)."""
        if not self._is_int8:
            return self.add_weight(name="kernel", shape=shape, initializer=initializer, **kwargs)
        kernel = self.add_weight(name="kernel", shape=shape, initializer="zeros", dtype="int8",
                                 trainable=False, autocast=False)
        self._add_kernel_scale(shape)
        self._is_quantized = True
        return kernel

    def _add_kernel_scale(self, shape):
        blocks, axis, summed = self._kernel_blocks()
        split = list(_split_blocks(shape, blocks, axis))
        for a in summed:
            split[a + 1 if a >= axis else a] = 1
        self.kernel_scale = self.add_weight(
            name="kernel_scale", shape=tuple(split), initializer="ones", trainable=False,
            dtype="float32", autocast=False)

    @contextlib.contextmanager
    def _state_unlocked(self):
        """New variables may be added inside (the layer is built); the
        tracker's lock is restored after."""
        locked = self._tracker.locked
        self._tracker.unlock()
        try:
            yield
        finally:
            if locked:
                self._tracker.lock()

    def quantize(self, mode=None, type_check=True, config=None):
        """Store the fused kernel in int8 (``mode="int8"``), one scale per
        basis block and output channel, or train in float8 (``"float8"``;
        module docstring).

        Args:
            mode: ``"int8"`` or ``"float8"`` (training in float8, module
                docstring). Keras's other modes raise
                ``NotImplementedError`` (``Model.quantize`` warns and leaves
                the layer in float).
            type_check: Accepted for Keras's ``Model.quantize``.
            config: Accepted for Keras's ``Model.quantize``; the kernel's
                quantizer is fixed (absolute maximum per block and channel).
        """
        del type_check, config
        if getattr(self, "_is_quantized", False):
            raise ValueError(
                f"Layer {self.name!r} is already quantized with "
                f"dtype_policy={self.dtype_policy.name!r}. Received: mode={mode!r}")
        if not self.built:
            raise ValueError(f"Cannot quantize layer {self.name!r}: it is not built yet.")
        if mode not in QUANTIZATION_MODES:
            raise NotImplementedError(
                f"Layer {type(self).__name__} ({self.name!r}) quantizes to "
                f"{QUANTIZATION_MODES} only. Received: mode={mode!r}")
        if getattr(self, "kernel", None) is None or getattr(self, "term_kernels", None):
            raise NotImplementedError(
                f"Layer {self.name!r} has bases with trainable constants "
                f"(parameterization={getattr(self, 'parameterization', None)!r}); only the "
                "fused kernel of parameterization='terms' is quantized.")
        if self.lora_enabled:
            raise ValueError(
                f"Layer {self.name!r} has LoRA enabled: save and reload the model (the "
                "update is merged into the kernel), then quantize.")
        policy = self.dtype_policy
        if mode == "float8":
            with self._state_unlocked():
                self._build_float8(force=True)
            if policy.quantization_mode is None:  # after the variables: the setter locks
                self.dtype_policy = keras.dtype_policies.get(f"float8_from_{policy.name}")
            return
        blocks, axis, summed = self._kernel_blocks()
        shape = tuple(self.kernel.shape)
        q, scale = quantize_blocks(ops.convert_to_numpy(self.kernel), blocks, axis, summed)
        with self._state_unlocked():
            del self.kernel
            self.kernel = self.add_weight(name="kernel", shape=shape, initializer="zeros",
                                          dtype="int8", trainable=False, autocast=False)
            self._add_kernel_scale(shape)
        self.kernel.assign(q)
        self.kernel_scale.assign(scale)
        self._is_quantized = True
        if policy.quantization_mode is None:
            self.dtype_policy = keras.dtype_policies.get(f"int8_from_{policy.name}")

    def _quantized_variables(self):
        """Every variable, the kernel and its scale last: the same order
        after ``quantize`` and after a quantized ``build``."""
        last = {id(self.kernel), id(self.kernel_scale)}
        every = list(self._trainable_variables) + list(self._non_trainable_variables)
        return [v for v in every if id(v) not in last] + [self.kernel, self.kernel_scale]

    def save_own_variables(self, store):
        if not self._is_int8 or not self.built:
            return super().save_own_variables(store)
        for index, variable in enumerate(self._quantized_variables()):
            store[str(index)] = keras.ops.convert_to_numpy(variable)

    def load_own_variables(self, store):
        if not self._is_int8 or not self.built:
            return super().load_own_variables(store)
        assign_in_order(self, self._quantized_variables(), store)

    def enable_lora(self, *args, **kwargs):
        if self._is_int8 or self._is_float8:
            raise ValueError(
                f"Layer {self.name!r} is quantized to {self.quantization_mode}: enable LoRA "
                "on the float layer.")
        return super().enable_lora(*args, **kwargs)

    def _kernel_value(self, dtype):
        """The kernel the layer computes with: dequantized when int8."""
        if not self._is_int8:
            return super()._kernel_value(dtype)
        blocks, axis, _ = self._kernel_blocks()
        shape = tuple(self.kernel.shape)
        split = ops.reshape(ops.cast(self.kernel, dtype), _split_blocks(shape, blocks, axis))
        return ops.reshape(ops.divide(split, ops.cast(self.kernel_scale, dtype)), shape)

    def _int8_matmul(self, features, dtype):
        """``features @ kernel`` block by block in int8 (features quantized
        per row), rescaled to ``dtype``; the gradient reaches ``features``
        through the dequantized kernel."""
        blocks = self._kernel_blocks()[0]
        size = self.kernel.shape[0] // blocks
        kernel = ops.convert_to_tensor(self.kernel)
        scales = ops.cast(ops.reshape(self.kernel_scale, (blocks, -1)), dtype)

        @ops.custom_gradient
        def product(x, kernel, scales):
            def gradient(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return ops.matmul(upstream, ops.transpose(self._kernel_value(dtype))), None, None

            total = None
            for b in range(blocks):
                q, row_scale = keras.quantizers.abs_max_quantize(
                    x[..., b * size:(b + 1) * size], axis=-1)
                part = ops.cast(ops.matmul(q, kernel[b * size:(b + 1) * size]), dtype)
                part = ops.divide(part, ops.multiply(ops.cast(row_scale, dtype), scales[b]))
                total = part if total is None else ops.add(total, part)
            return total, gradient

        return product(features, kernel, scales)
