"""The tutorial's data path, models and loops, copied as they are, for speed comparisons.

Credit: the code below is the PyTorch knowledge-distillation tutorial's
(https://pytorch.org/tutorials/beginner/knowledge_distillation_tutorial.html), as the notebook kd_nb started from has it:
its `transforms.Compose([ToTensor(), Normalize(...)])` preprocessing, its `DataLoader(batch_size=64)` loaders, its
`TeacherModel` and `StudentModel`, and its `train`, `test` and `train_knowledge_distillation` functions. The loops are
unchanged (the teacher's forward pass on every batch of every epoch, `loss.item()` after every batch, the soft-target loss
written with `softmax(...).log()`); the only changes are that each function also returns what it measured (the seconds of
each epoch) and that its per-epoch `print` can be switched off with `verbose=False`.

One difference is forced on us: there is no internet here, so `torchvision.datasets.CIFAR10(..., download=True)` cannot
fetch the dataset. `kd_nb.data.ArrayImageDataset` stands in for it: it holds the same uint8 arrays and its
`__getitem__` does what torchvision's `CIFAR10.__getitem__` does (`PIL.Image.fromarray(img)`, then the transform, then
an `int` label), so the per-image work of the tutorial's data path is the same. `kd_nb.data.tutorial_transform()` is the
tutorial's `Compose([ToTensor(), Normalize(mean=(0.456, 0.456, 0.406), std=(0.229, 0.224, 0.225))])`.
"""
from __future__ import annotations
import time
import torch
import torch.nn as nn
import torch.optim as optim
from kd_nb.data import ArrayImageDataset, tutorial_transform as _kd_tutorial_transform

__all__ = ['tutorial_transform', 'tutorial_datasets', 'tutorial_loaders', 'TeacherModel', 'StudentModel',
           'train', 'test', 'train_knowledge_distillation']

# Preprocessing input Normalization. The tutorial's cell is
#     transform = transforms.Compose([
#         transforms.ToTensor(),
#         transforms.Normalize(mean=(0.456, 0.456, 0.406), std=(0.229, 0.224, 0.225))
#     ])
# and `kd_nb.data.tutorial_transform()` builds exactly that (same transforms, same numbers).
def tutorial_transform():
    "The tutorial's `transform`."
    return _kd_tutorial_transform(mean=(0.456, 0.456, 0.406), std=(0.229, 0.224, 0.225))

def tutorial_datasets(x_train, y_train, x_test, y_test, transform=None):
    "Stand-ins for the tutorial's `datasets.CIFAR10(root='./data', train=..., download=True, transform=transform)`: PIL images, one at a time."
    transform = transform or tutorial_transform()
    train_dataset = ArrayImageDataset(x_train, y_train, transform=transform)
    test_dataset = ArrayImageDataset(x_test, y_test, transform=transform)
    return train_dataset, test_dataset

def tutorial_loaders(x_train, y_train, x_test, y_test, batch_size=64):
    "The tutorial's `train_loaders` and `test_loaders`."
    train_dataset, test_dataset = tutorial_datasets(x_train, y_train, x_test, y_test)
    train_loaders = torch.utils.data.DataLoader(train_dataset, batch_size=batch_size, shuffle=True)
    test_loaders = torch.utils.data.DataLoader(test_dataset, batch_size=batch_size, shuffle=False)
    return train_loaders, test_loaders


# Teacher Model (the tutorial's, verbatim)
class TeacherModel(nn.Module):
    def __init__(self, num_classes=10):
        super(TeacherModel, self).__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 128, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 64, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, 32, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(32 * 8 * 8, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(512, num_classes),
        )
    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


class StudentModel(nn.Module):
    def __init__(self, num_classes=10):
        super(StudentModel, self).__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(16, 16, kernel_size=3, stride=1, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 8 * 8, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(256, num_classes),
        )
    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x


# Training loop (the tutorial's; added: the timer, the returned history and `verbose`)
def train(model, train_loader, epochs, learning_rate, device, verbose=True):
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    model.train()

    history = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        running_loss = 0.0
        for i, data in enumerate(train_loader, 0):
            inputs, labels = data
            inputs, labels = inputs.to(device), labels.to(device)
            # zero the gradients
            optimizer.zero_grad()
            logits = model(inputs)
            # calculate loss
            loss = criterion(logits, labels)
            loss.backward()
            optimizer.step()

            running_loss += loss.item()
        seconds = time.perf_counter() - t0
        history.append(dict(epoch=epoch + 1, loss=running_loss / len(train_loader), seconds=seconds))
        if verbose: print(f"Epoch {epoch + 1}/{epochs}, Loss: {running_loss / len(train_loader)}")
    return history

def test(model, test_loader, device, verbose=True):
    model.to(device)
    model.eval()
    correct = 0
    total = 0

    with torch.no_grad():
        for data in test_loader:
            inputs, labels = data
            inputs, labels = inputs.to(device), labels.to(device)
            logits = model(inputs)
            _, predicted = torch.max(logits.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    accuracy = 100 * correct / total
    if verbose: print(f"Test Accuracy: {accuracy:2f}%")
    return accuracy


# Knowledge distillation (the tutorial's; added: the timer, the returned history and `verbose`)
def train_knowledge_distillation(teacher_model, student_model, train_loader, epochs, learning_rate, device, alpha=0.5, temperature=3, soft_target_loss_weight=0.5, ce_loss_weight=0.5, verbose=True):
    teacher_model.eval()
    student_model.train()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(student_model.parameters(), lr=learning_rate)

    history = []
    for epoch in range(epochs):
        t0 = time.perf_counter()
        running_loss = 0.0
        for i, data in enumerate(train_loader, 0):
            inputs, labels = data
            inputs, labels = inputs.to(device), labels.to(device)

            optimizer.zero_grad()
            with torch.no_grad():
                teacher_logits = teacher_model(inputs)

            student_logits = student_model(inputs)

            # apply softmax to teacher logits
            teacher_softmax = nn.functional.softmax(teacher_logits / temperature, dim=1)
            # apply log on the softmax output from the student logits
            student_prob = nn.functional.log_softmax(student_logits / temperature, dim=1)

            # calculate the soft target loss
            soft_targets_loss = torch.sum(teacher_softmax * (teacher_softmax.log() - student_prob)) / student_prob.size()[0] * (temperature ** 2)

            # true label loss
            true_labels_loss = criterion(student_logits, labels)

            # Weighted sum of two losses
            loss = soft_target_loss_weight * soft_targets_loss + ce_loss_weight * true_labels_loss

            loss.backward()
            optimizer.step()

            running_loss += loss.item()
        seconds = time.perf_counter() - t0
        history.append(dict(epoch=epoch + 1, loss=running_loss / len(train_loader), seconds=seconds))
        if verbose: print(f"Epoch {epoch + 1}/{epochs}, Loss: {running_loss / len(train_loader)}")
    return history
