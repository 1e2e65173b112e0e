"""theanine.frontend.layers: the layer classes and ``Input``.

Each family of layers is one module with an ``__all__``; this package
re-exports them.  A new family (convolutional, recurrent, ...) is one new
module plus one import line here; the models do not change.
"""

from theanine.frontend.layers import (
    activation_layers,
    augmentation,
    base,
    conv_arguments,
    conv_lstm,
    attention,
    adaptive_pooling,
    augmentation_more,
    augmentation_color,
    augmentation_mix,
    augmentation_warp,
    augmentation_clahe,
    audio,
    grouped_query_attention,
    reversible_embedding,
    einsum_dense,
    hashing,
    input_spec,
    lookup,
    spectral_normalization,
    text,
    convolutional,
    core,
    embedding,
    image_reshaping,
    merging,
    noise,
    normalization,
    pooling,
    preprocessing,
    recurrent,
    recurrent_cells,
    reshaping,
    spatial_dropout,
    wrappers,
)
from theanine.frontend.layers.activation_layers import *  # noqa: F403
from theanine.frontend.layers.augmentation import *  # noqa: F403
from theanine.frontend.layers.base import *  # noqa: F403
from theanine.frontend.layers.conv_lstm import *  # noqa: F403
from theanine.frontend.layers.attention import *  # noqa: F403
from theanine.frontend.layers.adaptive_pooling import *  # noqa: F403
from theanine.frontend.layers.augmentation_more import *  # noqa: F403
from theanine.frontend.layers.augmentation_color import *  # noqa: F403
from theanine.frontend.layers.augmentation_mix import *  # noqa: F403
from theanine.frontend.layers.augmentation_warp import *  # noqa: F403
from theanine.frontend.layers.augmentation_clahe import *  # noqa: F403
from theanine.frontend.layers.audio import *  # noqa: F403
from theanine.frontend.layers.grouped_query_attention import *  # noqa: F403
from theanine.frontend.layers.reversible_embedding import *  # noqa: F403
from theanine.frontend.layers.einsum_dense import *  # noqa: F403
from theanine.frontend.layers.hashing import *  # noqa: F403
from theanine.frontend.layers.input_spec import *  # noqa: F403
from theanine.frontend.layers.lookup import *  # noqa: F403
from theanine.frontend.layers.spectral_normalization import *  # noqa: F403
from theanine.frontend.layers.text import *  # noqa: F403
from theanine.frontend.layers.convolutional import *  # noqa: F403
from theanine.frontend.layers.core import *  # noqa: F403
from theanine.frontend.layers.embedding import *  # noqa: F403
from theanine.frontend.layers.image_reshaping import *  # noqa: F403
from theanine.frontend.layers.merging import *  # noqa: F403
from theanine.frontend.layers.noise import *  # noqa: F403
from theanine.frontend.layers.normalization import *  # noqa: F403
from theanine.frontend.layers.pooling import *  # noqa: F403
from theanine.frontend.layers.preprocessing import *  # noqa: F403
from theanine.frontend.layers.recurrent import *  # noqa: F403
from theanine.frontend.layers.recurrent_cells import *  # noqa: F403
from theanine.frontend.layers.reshaping import *  # noqa: F403
from theanine.frontend.layers.spatial_dropout import *  # noqa: F403
from theanine.frontend.layers.wrappers import *  # noqa: F403



def serialize(layer) -> dict:
    """Keras' ``layers.serialize``: ``{"class_name", "config"}`` of a layer, objects in its config
    (initializers, nested layers, ...) serialized in turn (``saving.serialize_keras_object``)."""
    from theanine.frontend.saving import serialize_keras_object

    return serialize_keras_object(layer)


deserialize = base.deserialize_layer
"""Keras' ``layers.deserialize(config, custom_objects=None)``: the layer ``serialize`` described."""

__all__ = [
    *base.__all__,
    *activation_layers.__all__,
    *augmentation.__all__,
    *core.__all__,
    *convolutional.__all__,
    *pooling.__all__,
    *image_reshaping.__all__,
    *spatial_dropout.__all__,
    *embedding.__all__,
    *merging.__all__,
    *noise.__all__,
    *normalization.__all__,
    *preprocessing.__all__,
    *recurrent.__all__,
    *recurrent_cells.__all__,
    *reshaping.__all__,
    *wrappers.__all__,
    *attention.__all__,
    *adaptive_pooling.__all__,
    *augmentation_more.__all__,
    *augmentation_color.__all__,
    *augmentation_mix.__all__,
    *augmentation_warp.__all__,
    *augmentation_clahe.__all__,
    *audio.__all__,
    *grouped_query_attention.__all__,
    *reversible_embedding.__all__,
    *einsum_dense.__all__,
    *hashing.__all__,
    *input_spec.__all__,
    *lookup.__all__,
    *spectral_normalization.__all__,
    *text.__all__,
    "serialize",
    "deserialize",
]
