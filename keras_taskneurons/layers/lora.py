"""Low-rank adaptation (LoRA) of a task-neuron layer's fused kernel, as
Keras's ``Dense.enable_lora`` does it for the plain kernel.

``enable_lora(rank)`` freezes the kernel (every basis block) and adds two
trainable float32 matrices, ``lora_kernel_a`` (``kernel.shape[:-1] +
(rank,)``) and ``lora_kernel_b`` (``(rank, kernel.shape[-1])``, zeros), so
the layer computes with ``kernel + (lora_alpha / rank) * a @ b`` and
starts with the same output. Saving stores the merged kernel in the
kernel's place (a file the layer without LoRA also reads) and
``lora_rank``/``lora_alpha`` in the config; loading rebuilds the adapter
with ``b = 0`` and ``a`` drawn afresh, so the reloaded layer gives the same
outputs and keeps fine-tuning (Keras's ``Dense`` zeroes both, after which
neither gets a gradient).
"""

import numbers

import keras
import numpy as np
from keras import ops


def _python_number(value):
    """``value`` as a Python number (numpy scalars are accepted as numbers
    but stored as Python ones, so configs stay plain JSON)."""
    return value.item() if isinstance(value, np.generic) else value


def assign_in_order(layer, variables, store):
    """Assign ``store``'s values ``"0"``, ``"1"``, … to ``variables`` (a
    layer's own saving order), refusing a file with another count."""
    if len(store.keys()) != len(variables):
        raise ValueError(
            f"Layer {layer.name!r} expects {len(variables)} variables in the file, "
            f"found {len(store.keys())}.")
    for index, variable in enumerate(variables):
        variable.assign(store[str(index)])


class LoraMixin:
    """LoRA on ``self.kernel`` for a layer that computes with
    ``_kernel_value()``; the layer sets ``lora_rank``/``lora_alpha`` in
    ``__init__`` (``_init_lora()``) and calls ``_build_lora()`` at the
    end of ``build``."""

    def _init_lora(self, lora_rank, lora_alpha):
        for name, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha)):
            if value is not None and (
                    isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or value <= 0):
                raise ValueError(
                    f"Received an invalid value for `{name}`, expected a positive "
                    f"number or None. Received: {name}={value!r}"
                )
        if lora_rank is not None and int(lora_rank) != lora_rank:
            raise ValueError(
                f"Received an invalid value for `lora_rank`, expected a positive integer. "
                f"Received: lora_rank={lora_rank!r}"
            )
        self.lora_rank = None if lora_rank is None else int(lora_rank)
        self.lora_alpha = _python_number(lora_alpha) if lora_alpha is not None else self.lora_rank
        self.lora_enabled = False

    def _build_lora(self):
        if self.lora_rank:
            self.built = True  # what build_wrapper sets next; as Keras's Dense
            self.enable_lora(self.lora_rank, self.lora_alpha)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros"):
        """Freeze the kernel and train a rank-``rank`` update of it.

        Args:
            rank: Positive integer, the update's rank.
            lora_alpha: The update's scale is ``lora_alpha / rank``
                (default ``rank``: 1).
            a_initializer: Initializer of ``lora_kernel_a``.
            b_initializer: Initializer of ``lora_kernel_b`` (zeros: the
                layer's output does not change when LoRA is enabled).
        """
        if isinstance(rank, (bool, np.bool_)) or not isinstance(rank, numbers.Integral) or rank <= 0:
            raise ValueError(
                f"Received an invalid value for `rank`, expected a positive integer. "
                f"Received: rank={rank!r}"
            )
        if self.kernel_constraint:
            raise ValueError(
                f"LoRA is incompatible with kernel constraints (layer {self.name!r}); "
                "remove the `kernel_constraint` argument to enable it."
            )
        if not self.built:
            raise ValueError(f"Cannot enable LoRA on layer {self.name!r}: it is not built yet.")
        if self.lora_enabled:
            raise ValueError(
                f"LoRA is already enabled on layer {self.name!r}; this can be done once.")
        if getattr(self, "kernel", None) is None:
            raise ValueError(
                f"Layer {self.name!r} has no fused kernel (its formula has only bases "
                "with trainable constants), so it has nothing for LoRA to adapt.")
        self._tracker.unlock()
        shape = tuple(self.kernel.shape)
        self._lora_a_initializer = keras.initializers.get(a_initializer)
        self.lora_kernel_a = self.add_weight(
            name="lora_kernel_a", shape=shape[:-1] + (rank,),
            initializer=self._lora_a_initializer, dtype="float32",
            regularizer=self.kernel_regularizer, autocast=False,
        )
        self.lora_kernel_b = self.add_weight(
            name="lora_kernel_b", shape=(rank, shape[-1]),
            initializer=keras.initializers.get(b_initializer), dtype="float32",
            regularizer=self.kernel_regularizer, autocast=False,
        )
        self.kernel.trainable = False
        self._tracker.lock()
        self.lora_enabled = True
        self.lora_rank = int(rank)
        self.lora_alpha = _python_number(lora_alpha) if lora_alpha is not None else self.lora_rank

    def _kernel_value(self, dtype):
        """The kernel the layer computes with (LoRA's update merged)."""
        kernel = ops.cast(self.kernel, dtype)
        if not self.lora_enabled:
            return kernel
        update = ops.matmul(ops.cast(self.lora_kernel_a, dtype), ops.cast(self.lora_kernel_b, dtype))
        return ops.add(kernel, ops.multiply(update, self.lora_alpha / self.lora_rank))

    def _saved_variables(self):
        adapter = {id(self.lora_kernel_a), id(self.lora_kernel_b)}
        every = list(self._trainable_variables) + list(self._non_trainable_variables)
        return [v for v in every if id(v) not in adapter]

    def save_own_variables(self, store):
        if not self.lora_enabled:
            return super().save_own_variables(store)
        for index, variable in enumerate(self._saved_variables()):
            value = self._kernel_value("float32") if variable is self.kernel else variable
            store[str(index)] = keras.ops.convert_to_numpy(value)

    def load_own_variables(self, store):
        if not self.lora_enabled:
            return super().load_own_variables(store)
        assign_in_order(self, self._saved_variables(), store)
        self.lora_kernel_a.assign(self._lora_a_initializer(self.lora_kernel_a.shape))
        self.lora_kernel_b.assign(ops.zeros(self.lora_kernel_b.shape))

    def _lora_config(self):
        return {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha} if self.lora_rank else {}
