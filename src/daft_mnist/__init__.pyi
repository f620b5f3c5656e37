# The public API of daft_mnist, in one place: what type checkers read, and what
# ``daft_mnist/__init__.py`` reads at import time to build ``__all__`` and load each name lazily
# from its module. Add a public name here, and nowhere else.
#
# The top level holds what a Daft user composes: loaders, expression builders, DataFrame
# helpers, reports, plots, the classifier, the provider, errors, and the option types that
# their signatures use. Torch plumbing (the network, checkpoints, int8 calibration, IDX
# reading) is public in its own module: daft_mnist.model, daft_mnist.network,
# daft_mnist.quantize, daft_mnist.weights, daft_mnist.io.
from daft_mnist.classifier import Classifier as Classifier
from daft_mnist.classifier import ClassifyOptions as ClassifyOptions
from daft_mnist.classifier import ModelOptions as ModelOptions
from daft_mnist.classifier import Precision as Precision
from daft_mnist.classifier import classify_digit as classify_digit
from daft_mnist.classifier import embed_digit as embed_digit
from daft_mnist.errors import CacheDirError as CacheDirError
from daft_mnist.errors import DaftMnistError as DaftMnistError
from daft_mnist.errors import DataError as DataError
from daft_mnist.errors import OnError as OnError
from daft_mnist.errors import OptionError as OptionError
from daft_mnist.errors import TrainingError as TrainingError
from daft_mnist.errors import WeightsError as WeightsError
from daft_mnist.frames import add_image_2d as add_image_2d
from daft_mnist.frames import add_pil_image as add_pil_image
from daft_mnist.frames import classify as classify
from daft_mnist.images import checked_pixels as checked_pixels
from daft_mnist.images import image_2d as image_2d
from daft_mnist.images import to_image as to_image
from daft_mnist.io import DATA_DIR_ENV as DATA_DIR_ENV
from daft_mnist.io import TEST_URL as TEST_URL
from daft_mnist.io import TRAIN_URL as TRAIN_URL
from daft_mnist.io import ConvertResult as ConvertResult
from daft_mnist.io import convert as convert
from daft_mnist.io import load_images as load_images
from daft_mnist.io import load_mnist as load_mnist
from daft_mnist.labels import checked_labels as checked_labels
from daft_mnist.metrics import accuracy_by_label as accuracy_by_label
from daft_mnist.metrics import confusion_matrix as confusion_matrix
from daft_mnist.metrics import error_counts as error_counts
from daft_mnist.metrics import misclassified as misclassified
from daft_mnist.metrics import overall_accuracy as overall_accuracy
from daft_mnist.neighbours import nearest as nearest
from daft_mnist.numbers import read_number as read_number
from daft_mnist.numbers import read_numbers as read_numbers
from daft_mnist.plots import plot_confusion_matrix as plot_confusion_matrix
from daft_mnist.plots import plot_digits as plot_digits
from daft_mnist.plots import plot_prepared as plot_prepared
from daft_mnist.preparation import mnist_style as mnist_style
from daft_mnist.provider import MnistProvider as MnistProvider
from daft_mnist.training import TrainResult as TrainResult
from daft_mnist.training import train as train

__version__: str
__all__: list[str]
