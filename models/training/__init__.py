"""Training the small CNN zoo on real data with PyTorch (the optional `train` extra).

    from onnx_tee.models.training import build_model, train, export_onnx
    net = build_model("resnet_fmnist")
    train(net, "fashion-mnist", epochs=8)
    export_onnx(net, "resnet_fmnist.onnx", sample_shape=(1, 28, 28))
    trained = load_trained("resnet_fmnist")      # the committed weights, back in PyTorch

Nothing in the core package imports this; it needs `pip install torch==2.13.0`.
"""
from .architectures import ARCHITECTURES, Architecture, build_model
from .export import export_onnx
from .loop import TrainingRecipe, predict, train
from .zoo import load_trained

__all__ = ["ARCHITECTURES", "Architecture", "build_model", "export_onnx", "load_trained", "TrainingRecipe",
           "predict", "train"]
