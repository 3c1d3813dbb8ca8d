"""The second book's recurrent models written in PyTorch (a benchmark competitor, never a dependency): the same
layers, sizes and updates as the book's ``Rnnlm``, ``BetterRnnlm``, ``Seq2seq``, ``PeekySeq2seq`` and
``AttentionSeq2seq``, float32, for benchmarks/recurrent.py."""
import functools


@functools.lru_cache(maxsize=None)
def _classes():
    """(Rnnlm, Seq2seq) defined on first use: importing this module needs no torch (asv imports every module of
    benchmarks/)."""
    import torch
    from torch import nn

    class Rnnlm(nn.Module):
        """Embedding, LSTM layers (dropout between them when ``dropout``), a vocabulary-wide Affine (tied to the
        embedding when ``tied``); the state carries over between batches like the book's stateful TimeLSTM."""

        def __init__(self, vocab, wordvec, hidden, layers=1, dropout=0.0, tied=False):
            super().__init__()
            self.embed = nn.Embedding(vocab, wordvec)
            self.drop = nn.Dropout(dropout)
            self.lstm = nn.LSTM(wordvec, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)
            self.affine = nn.Linear(hidden, vocab)
            if tied:
                self.affine.weight = self.embed.weight
            self.state = None

        def forward(self, xs):
            hs, state = self.lstm(self.drop(self.embed(xs)), self.state)
            self.state = tuple(s.detach() for s in state)
            return self.affine(self.drop(hs))


    class Seq2seq(nn.Module):
        """The book's encoder (embedding, LSTM, last hidden state) and decoder (embedding, LSTM started from it,
        Affine); ``peeky`` feeds the encoder's state into every decoder step and the Affine as the book's Peeky model;
        ``attention`` adds the book's dot-product attention over all encoder states before the Affine."""

        def __init__(self, vocab, wordvec, hidden, peeky=False, attention=False):
            super().__init__()
            self.peeky, self.attention = peeky, attention
            extra = hidden if peeky else 0
            self.enc_embed, self.dec_embed = nn.Embedding(vocab, wordvec), nn.Embedding(vocab, wordvec)
            self.enc_lstm = nn.LSTM(wordvec, hidden, batch_first=True)
            self.dec_lstm = nn.LSTM(wordvec + extra, hidden, batch_first=True)
            self.affine = nn.Linear(hidden * (2 if attention else 1) + extra, vocab)

        def forward(self, xs, dec_in):
            enc_hs, _ = self.enc_lstm(self.enc_embed(xs))
            h = enc_hs[:, -1:, :]
            out = self.dec_embed(dec_in)
            if self.peeky:
                out = torch.cat([h.expand(-1, out.shape[1], -1), out], dim=2)
            dec_hs, _ = self.dec_lstm(out, (h.transpose(0, 1).contiguous(), torch.zeros_like(h).transpose(0, 1)))
            if self.attention:
                weights = torch.softmax(dec_hs @ enc_hs.transpose(1, 2), dim=2)
                dec_hs = torch.cat([weights @ enc_hs, dec_hs], dim=2)
            if self.peeky:
                dec_hs = torch.cat([h.expand(-1, dec_hs.shape[1], -1), dec_hs], dim=2)
            return self.affine(dec_hs)

    return Rnnlm, Seq2seq


def _model(name, args):
    Rnnlm, Seq2seq = _classes()
    if name == "rnnlm":
        return Rnnlm(*args)
    if name == "better_rnnlm":
        vocab, wordvec, hidden, dropout = args
        return Rnnlm(vocab, wordvec, hidden, layers=2, dropout=dropout, tied=True)
    return Seq2seq(*args, peeky=name == "peeky", attention=name == "attention")


def training_step(name, spec, data):
    """A function running one iteration of model ``name`` (benchmarks.recurrent.MODELS' ``spec``) on ``data``
    (xs, ts: NumPy ids)."""
    import torch
    from torch import nn

    _, _, args, _, _, _, (opt_name, lr), max_grad = spec
    torch.manual_seed(0)
    model = _model(name, args)
    optimizer = (torch.optim.SGD if opt_name == "SGD" else torch.optim.Adam)(model.parameters(), lr=lr)
    xs, ts = (torch.as_tensor(a, dtype=torch.long) for a in data)
    loss_fn = nn.CrossEntropyLoss()
    language_model = name in ("rnnlm", "better_rnnlm")

    def step():
        optimizer.zero_grad()
        if language_model:
            scores, targets = model(xs), ts
        else:
            scores, targets = model(xs, ts[:, :-1]), ts[:, 1:]
        loss = loss_fn(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_grad)
        optimizer.step()

    return step
