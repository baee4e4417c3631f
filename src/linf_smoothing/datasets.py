"""The datasets the workflow knows, and their channels (d = channels x size x size).

Kept free of heavy imports: the workflow reads it at parse time.
"""
CHANNELS = {"cifar10": 3, "digits": 1}
DATASETS = tuple(CHANNELS)
# Test and training images of each dataset (digits: a fixed 20% test split of 1797 images).
TEST_IMAGES = {"cifar10": 10_000, "digits": 360}
TRAIN_IMAGES = {"cifar10": 50_000, "digits": 1_437}
# The dataset of the paper's published rows (the benchmark table's).
PUBLISHED_DATASET = "cifar10"
