"""Interaction terms: the product of two projections of a layer's input.

A task-neuron unit is separable: it computes ``sum_i phi_j(x_i)``. With
``interaction_rank=r`` every task-neuron layer adds, per unit ``j``,

    ``m * sum_{k<r} (U_k z + a_k)_j * (V_k z + b_k)_j``

where ``z`` is what the layer's linear basis sees (the input, standardized by
the input map when it has statistics), ``U_k z`` and ``V_k z`` are the
layer's own linear operation (a matmul, a convolution, a transposed
convolution, an einsum) with kernels of the shape of one basis block, and
``m`` is ``basis_scale`` (0.1 when ``basis_scale="coefficients"``). This is
the quadratic neuron of Fan et al. ``(w_r·x + b_r)(w_g·x + b_g)`` at rank 1,
tnlearn's products of inner products ``<w2, x>*<w3, x>``, and a CP
decomposition of a per-unit quadratic form at rank ``r``.

All ``2r`` kernels are ONE weight, ``interaction_kernel`` (``U_0 … U_{r-1}``
then ``V_0 … V_{r-1}``, concatenated along the kernel's output axis), so the
term costs ONE more operation of the layer's kind, an element-wise product
and a sum over the ``r`` ranks, never a loop over units. The ``U`` blocks
start from ``kernel_initializer``, the ``V`` blocks and both offsets
(``interaction_bias``) from zeros: the term is zero at the start, so the
layer still starts as the plain layer, and the gradient reaches ``V`` first
(``m (U_k z + a_k) z``), trained gently like the other higher-order blocks.
The weights are float32 under mixed precision, like the kernels.
"""

from keras import ops

from keras_taskneurons.layers.options import reseeded


DEFAULT_INTERACTION_SCALE = 0.1
"""``m`` when ``basis_scale="coefficients"`` (the default ``basis_scale``)."""


class InteractionMixin:
    """The interaction term of a ``BasisLayer``
    (``self.interaction_rank`` set by its ``__init__``)."""

    def _build_interaction(self, block_shape, kernel_axis, output_axis, initializer=None):
        """The weights of the term: ``interaction_kernel`` (``2r`` blocks of
        ``block_shape`` along ``kernel_axis``, the kernel's output axis) and
        ``interaction_bias`` (``2r`` times that axis's size, added along
        the operation's ``output_axis``). ``initializer``: the ``U``
        blocks' (default ``kernel_initializer``)."""
        self.interaction_kernel = self.interaction_bias = None
        rank = self.interaction_rank
        if not rank:
            return
        initializer = initializer or self.kernel_initializer
        block_shape = tuple(block_shape)

        def initialize(shape, dtype=None):
            blocks = [reseeded(initializer, k)(block_shape, dtype=dtype) for k in range(rank)]
            blocks += [ops.zeros(block_shape, dtype=dtype)] * rank
            return ops.concatenate(blocks, axis=kernel_axis)

        shape = list(block_shape)
        shape[kernel_axis] *= 2 * rank
        self._interaction_axis = output_axis
        self.interaction_kernel = self.add_weight(
            name="interaction_kernel", shape=tuple(shape), initializer=initialize,
            regularizer=self.kernel_regularizer, autocast=False,
        )
        self.interaction_bias = self.add_weight(
            name="interaction_bias", shape=(shape[kernel_axis],), initializer="zeros",
            autocast=False,
        )

    @property
    def interaction_scale(self):
        """The factor ``m`` on the interaction term."""
        if self.basis_scale == "coefficients":
            return DEFAULT_INTERACTION_SCALE
        return self.basis_scale

    def _interaction(self, z, bounded, operation, dtype, axis=-1):
        """``m * sum_k (U_k z + a_k) * (V_k z + b_k)``, with ``operation(z,
        kernel)`` the layer's linear operation (one call for all ``2r``
        projections) and ``z`` bounded as the module docstring says
        (``bounded``: the other bases' input, channels along ``axis``);
        ``None`` without interactions."""
        if not self.interaction_rank:
            return None
        rank = self.interaction_rank
        z = self._interaction_input(z, bounded, axis)
        both = operation(z, ops.cast(self.interaction_kernel, dtype))
        shape = [1] * len(both.shape)
        shape[self._interaction_axis] = -1
        both = ops.add(both, ops.reshape(ops.cast(self.interaction_bias, dtype), shape))
        pieces = ops.split(both, 2 * rank, axis=self._interaction_axis)
        total = ops.multiply(pieces[0], pieces[rank])
        for k in range(1, rank):
            total = ops.add(total, ops.multiply(pieces[k], pieces[rank + k]))
        return ops.multiply(total, self.interaction_scale)
