"""Reference trainers: both books' ``common/trainer.py`` in their own idiom, plus the book helpers they use.

* :class:`Trainer` is the first book's trainer (``Trainer(network, x_train, t_train, x_test, t_test, ...)``).
* :class:`Trainer2` is the second book's ``Trainer(model, optimizer)`` with ``fit`` and ``plot``.
* ``smooth_curve``, ``shuffle_dataset`` (book 1 ``common/util.py``) and ``clip_grads``, ``remove_duplicate``
  (book 2 ``common/util.py``, used by its trainer) live here too, as the oracle for ``fastnn.util``.

This is the test oracle for ``fastnn.trainer`` and ``fastnn.util``: same RNG draws, same printed lines.
"""
import time

import numpy as np

from .optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop


# --- book 1 common/util.py ----------------------------------------------------------------------------------------
def smooth_curve(x):
    """Returns the loss curve x smoothed by an 11-point Kaiser window (beta 2), ends reflected, as long as x."""
    window_len = 11
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode='valid')
    return y[5:len(y) - 5]


def shuffle_dataset(x, t):
    """Returns (x, t) reordered by one random permutation of the samples (x 2-D or 4-D)."""
    permutation = np.random.permutation(x.shape[0])
    x = x[permutation, :] if x.ndim == 2 else x[permutation, :, :, :]
    t = t[permutation]
    return x, t


# --- book 2 common/util.py ----------------------------------------------------------------------------------------
def clip_grads(grads, max_norm):
    """Scales every gradient in place by max_norm / (total_norm + 1e-6) when that rate is below 1 (total_norm: the L2
    norm over all of grads); returns nothing."""
    total_norm = 0
    for grad in grads:
        total_norm += np.sum(grad ** 2)
    total_norm = np.sqrt(total_norm)

    rate = max_norm / (total_norm + 1e-6)
    if rate < 1:
        for grad in grads:
            grad *= rate


def remove_duplicate(params, grads):
    """Merge parameters shared by several layers into one entry and add up their gradients (in place); returns the
    shortened (params, grads), copies of the input lists."""
    params, grads = params[:], grads[:]  # copy the lists, not the arrays

    while True:
        find_flg = False
        L = len(params)

        for i in range(0, L - 1):
            for j in range(i + 1, L):
                # the same array used twice
                if params[i] is params[j]:
                    grads[i] += grads[j]
                    find_flg = True
                    params.pop(j)
                    grads.pop(j)
                # weight tying through a transposed matrix
                elif params[i].ndim == 2 and params[j].ndim == 2 and \
                        params[i].T.shape == params[j].shape and np.all(params[i].T == params[j]):
                    grads[i] += grads[j].T
                    find_flg = True
                    params.pop(j)
                    grads.pop(j)

                if find_flg:
                    break
            if find_flg:
                break

        if not find_flg:
            break

    return params, grads


# --- book 1 common/trainer.py -------------------------------------------------------------------------------------
class Trainer:
    """Train a network with mini-batches drawn with replacement; evaluate accuracy once per epoch."""

    def __init__(self, network, x_train, t_train, x_test, t_test,
                 epochs=20, mini_batch_size=100,
                 optimizer='SGD', optimizer_param={'lr': 0.01},  # noqa: B006 (the book's signature)
                 evaluate_sample_num_per_epoch=None, verbose=True):
        self.network = network
        self.verbose = verbose
        self.x_train = x_train
        self.t_train = t_train
        self.x_test = x_test
        self.t_test = t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch

        # the book's table, misspelt key 'rmsprpo' included ('rmsprop' added so the obvious name works)
        optimizer_class_dict = {'sgd': SGD, 'momentum': Momentum, 'nesterov': Nesterov,
                                'adagrad': AdaGrad, 'rmsprpo': RMSprop, 'rmsprop': RMSprop, 'adam': Adam}
        self.optimizer = optimizer_class_dict[optimizer.lower()](**optimizer_param)

        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

    def train_step(self):
        """One step: a mini-batch drawn with replacement, network.params updated in place, the loss recorded; at each
        epoch, train and test accuracy too. Returns nothing."""
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self.verbose:
            print("train loss:" + str(loss))

        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1

            x_train_sample, t_train_sample = self.x_train, self.t_train
            x_test_sample, t_test_sample = self.x_test, self.t_test
            if self.evaluate_sample_num_per_epoch is not None:
                t = self.evaluate_sample_num_per_epoch
                x_train_sample, t_train_sample = self.x_train[:t], self.t_train[:t]
                x_test_sample, t_test_sample = self.x_test[:t], self.t_test[:t]

            train_acc = self.network.accuracy(x_train_sample, t_train_sample)
            test_acc = self.network.accuracy(x_test_sample, t_test_sample)
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)

            if self.verbose:
                print("=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc)
                      + ", test acc:" + str(test_acc) + " ===")
        self.current_iter += 1

    def train(self):
        """Runs max_iter train steps, then prints the final test accuracy; returns nothing."""
        for i in range(self.max_iter):
            self.train_step()

        test_acc = self.network.accuracy(self.x_test, self.t_test)

        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))


# --- book 2 common/trainer.py -------------------------------------------------------------------------------------
class Trainer2:
    """The second book's Trainer: shuffle once per epoch, walk the data in order, report the averaged loss."""

    def __init__(self, model, optimizer):
        self.model = model
        self.optimizer = optimizer
        self.loss_list = []
        self.eval_interval = None
        self.current_epoch = 0

    def fit(self, x, t, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20):
        """Trains model for max_epoch shuffled epochs of batch_size batches (shared weights merged, grads clipped to
        max_grad if given), recording the mean loss every eval_interval iterations; returns nothing."""
        data_size = len(x)
        max_iters = data_size // batch_size
        self.eval_interval = eval_interval
        model, optimizer = self.model, self.optimizer
        total_loss = 0
        loss_count = 0

        start_time = time.time()
        for epoch in range(max_epoch):
            # shuffle
            idx = np.random.permutation(np.arange(data_size))
            x = x[idx]
            t = t[idx]

            for iters in range(max_iters):
                batch_x = x[iters * batch_size:(iters + 1) * batch_size]
                batch_t = t[iters * batch_size:(iters + 1) * batch_size]

                # gradient, then update (shared weights merged into one entry first)
                loss = model.forward(batch_x, batch_t)
                model.backward()
                params, grads = remove_duplicate(model.params, model.grads)
                if max_grad is not None:
                    clip_grads(grads, max_grad)
                optimizer.update(params, grads)
                total_loss += loss
                loss_count += 1

                # report
                if (eval_interval is not None) and (iters % eval_interval) == 0:
                    avg_loss = total_loss / loss_count
                    elapsed_time = time.time() - start_time
                    print('| epoch %d |  iter %d / %d | time %d[s] | loss %.2f'
                          % (self.current_epoch + 1, iters + 1, max_iters, elapsed_time, avg_loss))
                    self.loss_list.append(float(avg_loss))
                    total_loss, loss_count = 0, 0

            self.current_epoch += 1

    def plot(self, ylim=None):
        """Plots loss_list against iterations (in units of eval_interval) with matplotlib; returns nothing."""
        import matplotlib.pyplot as plt

        x = np.arange(len(self.loss_list))
        if ylim is not None:
            plt.ylim(*ylim)
        plt.plot(x, self.loss_list, label='train')
        plt.xlabel('iterations (x' + str(self.eval_interval) + ')')
        plt.ylabel('loss')
        plt.show()
