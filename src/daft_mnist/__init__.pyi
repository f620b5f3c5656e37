# The public API of daft_mnist, in one place: what type checkers read, and what
# ``daft_mnist/__init__.py`` reads at import time to build ``__all__`` and load each name lazily
# from its module. Add a public name here, and nowhere else.
from daft_mnist.classifier import Classifier as Classifier
from daft_mnist.classifier import ClassifyOptions as ClassifyOptions
from daft_mnist.classifier import ModelOptions as ModelOptions
from daft_mnist.classifier import classify_digit as classify_digit
from daft_mnist.classifier import embed_digit as embed_digit
from daft_mnist.diagnostics import bad_row_count as bad_row_count
from daft_mnist.diagnostics import reset_bad_row_count as reset_bad_row_count
from daft_mnist.diagnostics import row_counters as row_counters
from daft_mnist.errors import CacheDirError as CacheDirError
from daft_mnist.errors import DaftMnistError as DaftMnistError
from daft_mnist.errors import DataError as DataError
from daft_mnist.errors import TrainingError as TrainingError
from daft_mnist.errors import WeightsError as WeightsError
from daft_mnist.frames import add_image_2d as add_image_2d
from daft_mnist.frames import add_pil_image as add_pil_image
from daft_mnist.frames import classify as classify
from daft_mnist.images import checked_pixels as checked_pixels
from daft_mnist.images import image_2d as image_2d
from daft_mnist.images import pixels_to_numpy as pixels_to_numpy
from daft_mnist.images import to_image as to_image
from daft_mnist.io import DATA_DIR_ENV as DATA_DIR_ENV
from daft_mnist.io import TEST_URL as TEST_URL
from daft_mnist.io import TRAIN_URL as TRAIN_URL
from daft_mnist.io import ConvertResult as ConvertResult
from daft_mnist.io import convert as convert
from daft_mnist.io import load_images as load_images
from daft_mnist.io import load_mnist as load_mnist
from daft_mnist.io import read_idx as read_idx
from daft_mnist.labels import checked_labels as checked_labels
from daft_mnist.metrics import accuracy_by_label as accuracy_by_label
from daft_mnist.metrics import confusion_matrix as confusion_matrix
from daft_mnist.metrics import misclassified as misclassified
from daft_mnist.metrics import overall_accuracy as overall_accuracy
from daft_mnist.model.checkpoint import Checkpoint as Checkpoint
from daft_mnist.model.checkpoint import load_checkpoint as load_checkpoint
from daft_mnist.model.checkpoint import load_model as load_model
from daft_mnist.model.checkpoint import save_checkpoint as save_checkpoint
from daft_mnist.model.network import MNIST_MEAN as MNIST_MEAN
from daft_mnist.model.network import MNIST_STD as MNIST_STD
from daft_mnist.model.network import Net as Net
from daft_mnist.model.network import Preprocessing as Preprocessing
from daft_mnist.model.quantize import Int8Calibration as Int8Calibration
from daft_mnist.model.quantize import calibrate_int8 as calibrate_int8
from daft_mnist.model.weights import resolve_weights as resolve_weights
from daft_mnist.neighbours import nearest as nearest
from daft_mnist.plots import plot_confusion_matrix as plot_confusion_matrix
from daft_mnist.plots import plot_digits as plot_digits
from daft_mnist.plots import plot_prepared as plot_prepared
from daft_mnist.preparation import mnist_style as mnist_style
from daft_mnist.provider import MnistProvider as MnistProvider
from daft_mnist.training import TrainResult as TrainResult
from daft_mnist.training import train as train

__version__: str
__all__: list[str]
