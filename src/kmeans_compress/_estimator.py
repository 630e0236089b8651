"""The scikit-learn compatible estimator and ``kmeans_plusplus``: options checked once, then the
workers of :mod:`._lloyd`. Re-exported by :mod:`kmeans_compress.kmeans` and the package."""

from __future__ import annotations

import functools
import importlib
import sys
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _backend
from ._exceptions import ConvergenceWarning, InvalidParameterError, NotFittedError
from ._lloyd import (
    GENERAL_PARALLEL_MIN_POINTS,
    inertia_in_order,
    lloyd,
    plusplus_indices,
    plusplus_init,
    random_init,
    tolerance,
)
from ._nearest import exact_labels
from ._validation import (
    SeedLike,
    check_array,
    check_choice,
    check_int,
    check_kmeans_options,
    check_magnitude,
    check_random_state,
    check_sample_weight,
    feature_names,
)

if TYPE_CHECKING:
    pass

__all__ = ["KMeans", "kmeans_plusplus"]


def kmeans_plusplus(
    X: Any,
    n_clusters: int,
    *,
    sample_weight: Any = None,
    x_squared_norms: Any = None,
    random_state: SeedLike = None,
    n_local_trials: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial centres by greedy, weighted k-means++, as scikit-learn's ``kmeans_plusplus``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Dense data (sparse matrices are refused with a TypeError).
    n_clusters : int
        Number of centres to choose.
    sample_weight : array-like of shape (n_samples,), default=None
        Weight of every sample (None: all 1).
    x_squared_norms : array-like of shape (n_samples,), default=None
        Accepted for compatibility and checked for length; the norms are
        computed where they are needed.
    random_state : None, int, numpy Generator or RandomState
        Seed for the draws. An int, None or a RandomState draws from a numpy
        ``RandomState`` in scikit-learn's order, so the same seed picks the same
        rows as scikit-learn's ``kmeans_plusplus`` (barring exact ties).
    n_local_trials : int, default=None
        Candidates tried for each centre after the first; None means
        ``2 + int(log(n_clusters))``.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        Rows of ``X``, in its dtype when that is float32 (float64 otherwise).
    indices : ndarray of shape (n_clusters,)
        The index in ``X`` of each centre: ``X[indices] == centers``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    >>> centers, indices = kmeans_plusplus(X, 2, random_state=0)
    >>> sorted(round(v) for v in centers[:, 0])
    [0, 10]
    >>> bool((X[indices] == centers).all())
    True
    """
    dtype = _float_dtype(X)
    X = check_array(X, "X")
    n_clusters = check_int(n_clusters, "n_clusters", low=1)
    w = check_sample_weight(sample_weight, X.shape[0])
    check_magnitude(X, "X", total_weight=_weight_for_magnitude(w))
    if n_clusters > X.shape[0]:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    if x_squared_norms is not None:
        n_norms = np.asarray(x_squared_norms).reshape(-1).shape[0]
        if n_norms != X.shape[0]:
            raise ValueError(
                f"The length of x_squared_norms {n_norms} should be equal to the length of n_samples {X.shape[0]}."
            )
    if n_local_trials is not None:
        n_local_trials = check_int(n_local_trials, "n_local_trials", low=1)
    indices = plusplus_indices(X, w, n_clusters, _draws(random_state), n_local_trials)
    return X[indices].astype(dtype, copy=False), indices


#: The least total weight the estimator's magnitude check assumes (``check_magnitude``): transform's
#: distances, expanded around the centres' mean, have terms up to twice a squared distance.
_MIN_MAGNITUDE_WEIGHT = 2.0


def _weight_for_magnitude(w: np.ndarray) -> float:
    """The total weight a fit's data must keep the sums of distances finite for (its inertia, the
    k-means++ potentials), at least ``_MIN_MAGNITUDE_WEIGHT``."""
    return max(_MIN_MAGNITUDE_WEIGHT, float(w.sum()))


def _draws(random_state: SeedLike) -> np.random.Generator | np.random.RandomState:
    """The random stream of a fit or of ``kmeans_plusplus``: a Generator as given; for an int,
    None or a RandomState, scikit-learn's (its ``check_random_state``: a RandomState seeded
    with the int, or the caller's own), so that k-means++ draws the same numbers in the same
    order as scikit-learn's and, from the same seed, starts from the same rows. Equal starts
    give equal fits (same iterations, same centres) and keep seeding luck out of a comparison
    of the two.

    A bool is the int it stands for, as scikit-learn takes it (``True`` seeds as 1), as the
    estimator's own parameter check takes it; the tutorial functions and the image path refuse it
    (:func:`check_seed`)."""
    if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return random_state
    if isinstance(random_state, (bool, np.bool_)):
        random_state = int(random_state)
    check_random_state(random_state)  # the type check and its error (an int or None draws nothing)
    return np.random.RandomState(random_state)


def _float_dtype(X: Any) -> type:
    """float32 for float32 input (kept, as scikit-learn keeps it), float64 for anything else.

    scikit-learn's rule (``check_array(dtype=[np.float64, np.float32])``): an array's ``dtype``;
    for a pandas data frame, which has ``dtypes`` (one a column) and no ``dtype``, the common
    dtype of its columns when they are all numpy dtypes (float32 and float16 columns: float32;
    a float64 or int32 column: float64; extension dtypes such as "Float32": float64). pandas is
    not imported: a frame can exist only if it is loaded. A polars frame gives float64, as in
    scikit-learn, which converts it without looking at its columns' dtypes."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(X, pd.DataFrame):
        dtypes = list(X.dtypes)
        is_numpy = bool(dtypes) and all(isinstance(d, np.dtype) for d in dtypes)
        dtype = functools.reduce(np.promote_types, dtypes) if is_numpy else None
    else:
        dtype = getattr(X, "dtype", None)
    return np.float32 if isinstance(dtype, np.dtype) and dtype == np.float32 else np.float64


_convergence_category: dict[type, type] = {}


def _convergence_warning() -> type[Warning]:
    """Our ConvergenceWarning; also a subclass of scikit-learn's when that is loaded
    (filters and ``pytest.warns`` written for scikit-learn's class then match)."""
    sk_exceptions = sys.modules.get("sklearn.exceptions")
    if sk_exceptions is None:  # nobody can be filtering on scikit-learn's class
        return ConvergenceWarning
    sk_class = sk_exceptions.ConvergenceWarning
    if sk_class not in _convergence_category:

        class _Both(ConvergenceWarning, sk_class):  # type: ignore[misc, valid-type]
            pass

        _Both.__name__ = _Both.__qualname__ = "ConvergenceWarning"
        _convergence_category[sk_class] = _Both
    return _convergence_category[sk_class]


# --------------------------------------------------------------------------- estimator

#: Up to this many features ``predict`` and ``score`` search with the kernels (every centre, on
#: differences) once they are loaded; above, by products. 100,000 standard-normal points, ms,
#: kernels / products (both exact): d = 2, K = 8 0.8 / 11.8, K = 256 5.7 / 36.1; d = 8, K = 8 1.3 /
#: 8.9, K = 256 17.9 / 43.3; d = 16, K = 256 31.1 / 52.3; d = 32, K = 64 17.3 / 28.3, K = 256
#: 57.2 / 55.9 (scikit-learn's predict: d = 8, K = 8 1.0); 20,000 points, d = 64, K = 64: 13.0
#: against 4.5 (BLAS's products win from there; scikit-learn 3.6).
_SCAN_MAX_FEATURES = 32

#: The default of ``set_fit_request``'s arguments: leave the request as it is (scikit-learn's
#: ``UNCHANGED``, a string of its own, is accepted too; it is not imported here).
_UNCHANGED: Any = object()


class KMeans:
    """K-means clustering, a drop-in for scikit-learn's ``sklearn.cluster.KMeans``.

    Same parameters, attributes and methods, with the same meanings; code written
    for scikit-learn's estimator runs unchanged. The iterations are Lloyd's with
    exact assignments (ties to the lowest centre), pruned by Hamerly's bounds on
    compiled kernels where there are few features, or searched with matrix products
    where there are many (see :mod:`._lloyd`): from the same start, the same labels
    and centres as scikit-learn's ``algorithm="lloyd"``.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    init : {'k-means++', 'random'}, callable or array of shape (n_clusters, n_features), default='k-means++'
        'k-means++': greedy weighted k-means++; 'random': rows drawn at random
        (weighted by ``sample_weight``); an array: these initial centres; a
        callable: ``init(X, n_clusters, random_state)`` returns the initial
        centres, ``X`` being the data as a float64 array and ``random_state`` a
        numpy ``RandomState``. (scikit-learn passes the callable its data minus
        the column means; a callable that builds its centres from the ``X`` it
        is given gives the same result either way.)
    n_init : 'auto' or int, default='auto'
        Number of runs from different seeds; the one with the lowest inertia is
        kept. 'auto' means 1 for 'k-means++' or an array, 10 for 'random' or a callable.
    max_iter : int, default=300
        Maximum number of Lloyd iterations per run.
    tol : float, default=1e-4
        Relative tolerance: a run stops when the total squared movement of the
        centres is at most ``tol`` times the mean variance of the features.
    verbose : int, default=0
        Print every run's iterations (inertia, reason for stopping), as scikit-learn does.
    random_state : None, int, numpy Generator or RandomState, default=None
        Seed for the initialization; resolved inside ``fit``. An int (or a
        RandomState) draws the numbers scikit-learn draws, in its order: the
        same seed gives the same k-means++ start as scikit-learn's (barring exact ties).
    copy_x : bool, default=True
        Accepted for compatibility. ``X`` is never modified, whatever its value
        (scikit-learn centres the data in place when it is False; this estimator
        does not need to).
    algorithm : {'lloyd', 'elkan'}, default='lloyd'
        Accepted for compatibility; both run the same exact bounded iteration,
        so both give the same result, as both do in scikit-learn.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        float32 when ``X`` was float32, float64 otherwise.
    labels_ : ndarray of shape (n_samples,), int32
        The closest centre of every sample (int32, as scikit-learn's).
    inertia_ : float
        Sum of (weighted) squared distances of the samples to their closest centre.
    n_iter_ : int
        Lloyd iterations of the kept run.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        The column names of ``X`` when it was a data frame whose column names are all
        strings (not set otherwise). ``predict``, ``transform`` and ``score`` then
        check the names of a data frame given to them, as scikit-learn does.

    Notes
    -----
    Sparse input is refused with scikit-learn's own error (a ``TypeError``
    saying that dense data is required): the package runs without SciPy, the
    kernels work on dense rows, and making a typical sparse matrix (text
    features) dense could exhaust memory silently. Pass ``X.toarray()`` when it fits.

    ``fit`` checks the parameters: a wrong type or value raises
    :class:`InvalidParameterError`, both a ValueError and a TypeError (and, when
    scikit-learn is loaded, an instance of its ``InvalidParameterError``), as
    scikit-learn's ``fit`` does. Errors of the data (fewer samples than
    clusters, initial centres of the wrong shape) are plain ValueErrors.

    Data so large that the sums of squared distances would overflow float64 is
    refused with a ValueError (scikit-learn returns wrong labels and an infinite
    inertia there): a value beyond ``sqrt(float64 max / (8 n_features W))``, where
    ``W`` is the total sample weight (at least 2) in ``fit`` and 2 in ``predict``,
    ``transform`` and ``score``; about 3e152 for 100 samples of 2 features.

    scikit-learn's metadata routing works as with its own KMeans:
    ``get_metadata_routing``, ``set_fit_request`` and ``set_score_request``
    (``sample_weight``) import scikit-learn when called, and only scikit-learn
    code needs them, e.g. ``cross_validate(km.set_fit_request(sample_weight=True),
    X, params={"sample_weight": w})`` under ``enable_metadata_routing=True``.

    When fewer distinct clusters than ``n_clusters`` are found (duplicate
    points), a :class:`ConvergenceWarning` is issued, which is also
    scikit-learn's ``ConvergenceWarning`` when scikit-learn is loaded.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 0.0], [10.0, 2.0], [10.0, 4.0], [10.0, 0.0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> sorted(km.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    >>> bool(km.predict([[0.0, 0.0]])[0] == km.predict([[1.0, 1.0]])[0])
    True
    >>> km.get_feature_names_out().tolist()
    ['kmeans0', 'kmeans1']

    ``set_output(transform="pandas")`` makes ``transform`` return a data frame, as in
    scikit-learn (pandas is imported only then):

    >>> km.set_output(transform="pandas").transform(X[:1]).columns.tolist()
    ['kmeans0', 'kmeans1']
    """

    _estimator_type = "clusterer"

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        init: Any = "k-means++",
        n_init: Any = "auto",
        max_iter: int = 300,
        tol: float = 1e-4,
        verbose: int = 0,
        random_state: SeedLike = None,
        copy_x: bool = True,
        algorithm: str = "lloyd",
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm

    # -- scikit-learn's parameter protocol, without depending on scikit-learn
    _param_names = (
        "algorithm",
        "copy_x",
        "init",
        "max_iter",
        "n_clusters",
        "n_init",
        "random_state",
        "tol",
        "verbose",
    )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Parameters of this estimator, as scikit-learn's ``get_params``."""
        return {name: getattr(self, name) for name in self._param_names}

    def set_params(self, **params: Any) -> KMeans:
        """Set parameters, as scikit-learn's ``set_params``; returns ``self``."""
        for name, value in params.items():
            if name not in self._param_names:
                raise ValueError(
                    f"Invalid parameter {name!r} for KMeans; valid parameters are {list(self._param_names)}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = KMeans().get_params()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items() if not _same_value(v, defaults[k])]
        return f"KMeans({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:  # called only by scikit-learn
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="clusterer",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(sparse=False),
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    # -- scikit-learn's metadata routing: called only by scikit-learn code, which imports it.
    # The requests live in scikit-learn's own attribute, ``_metadata_request`` (a
    # ``MetadataRequest``), which its ``clone`` carries over, as it does for its estimators.
    def get_metadata_routing(self) -> Any:
        """The metadata ``fit`` and ``score`` ask for (``sample_weight``), as scikit-learn's
        ``get_metadata_routing``: a ``sklearn.utils.metadata_routing.MetadataRequest``, a copy.

        Unless set by :meth:`set_fit_request` or :meth:`set_score_request`, a request is None:
        with ``sklearn.set_config(enable_metadata_routing=True)``, a meta-estimator or
        ``cross_validate`` given ``sample_weight`` raises until it is set. Imports scikit-learn.
        """
        from sklearn.utils.metadata_routing import MetadataRequest, get_routing_for_object

        if hasattr(self, "_metadata_request"):
            return get_routing_for_object(self._metadata_request)
        requests = MetadataRequest(owner=self)
        for method in ("fit", "score"):
            getattr(requests, method).add_request(param="sample_weight", alias=None)
        return requests

    def set_fit_request(self, *, sample_weight: Any = _UNCHANGED) -> KMeans:
        """Whether ``fit`` receives ``sample_weight`` under scikit-learn's metadata routing, as
        scikit-learn's ``set_fit_request``: True, False, None (an error if passed) or an alias
        (the name the caller passes it under). Only with routing enabled; returns ``self``."""
        return self._set_request("fit", sample_weight)

    def set_score_request(self, *, sample_weight: Any = _UNCHANGED) -> KMeans:
        """As :meth:`set_fit_request`, for ``score``."""
        return self._set_request("score", sample_weight)

    def _set_request(self, method: str, sample_weight: Any) -> KMeans:
        import sklearn
        from sklearn.utils.metadata_routing import UNCHANGED

        if not sklearn.get_config()["enable_metadata_routing"]:
            raise RuntimeError(
                "This method is only available when metadata routing is enabled."
                " You can enable it using sklearn.set_config(enable_metadata_routing=True)."
            )
        requests = self.get_metadata_routing()
        if sample_weight is not _UNCHANGED and not (isinstance(sample_weight, str) and sample_weight == UNCHANGED):
            getattr(requests, method).add_request(param="sample_weight", alias=sample_weight)
        self._metadata_request = requests
        return self

    # -- fitting
    def _validate_params(self, X: np.ndarray) -> tuple[int, int, int]:
        try:
            n_clusters, n_init, max_iter, kind = self._checked_params()
        except (TypeError, ValueError) as exc:  # the checks' messages, scikit-learn's exception type
            raise _invalid_parameter_error(str(exc)) from None
        if X.shape[0] < n_clusters:  # an error of the data, a plain ValueError as in scikit-learn
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
        if kind == "array" and n_init != 1:
            warnings.warn(
                f"Explicit initial center position passed: performing only one init in KMeans instead of "
                f"n_init={n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            n_init = 1
        if self.algorithm == "elkan" and n_clusters == 1:
            warnings.warn(
                "algorithm='elkan' doesn't make sense for a single cluster. Using 'lloyd' instead.",
                RuntimeWarning,
                stacklevel=3,
            )
        return n_clusters, n_init, max_iter

    def _checked_params(self) -> tuple[int, int, int, str]:
        """The constructor's parameters checked (a TypeError or ValueError naming the first bad
        one): ``n_clusters``, ``n_init`` ('auto' resolved), ``max_iter``, and the kind of ``init``."""
        n_clusters = check_int(self.n_clusters, "n_clusters", low=1)
        check_choice(self.algorithm, "algorithm", ("lloyd", "elkan"))
        if not isinstance(self.copy_x, (bool, np.bool_)):
            raise TypeError(f"copy_x must be a bool, got {self.copy_x!r}.")
        check_int(int(self.verbose) if isinstance(self.verbose, (bool, np.bool_)) else self.verbose, "verbose", low=0)
        rs = self.random_state
        if rs is not None and not isinstance(rs, (np.random.Generator, np.random.RandomState)):
            hint = "or None, a numpy Generator or RandomState"  # a RandomState's seeds: 0 to 2**32 - 1
            check_int(
                int(rs) if isinstance(rs, (bool, np.bool_)) else rs, "random_state", low=0, high=2**32 - 1, hint=hint
            )
        init = self.init
        if isinstance(init, str) and init in ("k-means++", "random"):
            kind = str(init)
        elif callable(init):
            kind = "callable"
        elif not isinstance(init, str) and _is_array_like(init):
            kind = "array"  # its shape is checked against the data in fit (a plain ValueError)
        else:
            raise ValueError(f"init must be 'k-means++', 'random', a callable or an array of centres, got {init!r}.")
        # The checks compress() shares; 'auto' is 1 start for k-means++ or given centres, 10 otherwise.
        auto = 10 if kind in ("random", "callable") else 1
        n_init, max_iter, _ = check_kmeans_options(self.n_init, self.max_iter, self.tol, auto_n_init=auto)
        return n_clusters, n_init, max_iter, kind

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> KMeans:
        """Compute the clustering.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Dense data; float32 data gives float32 centres.
        y : ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of every sample; an integer weight acts like repeating the row.

        Returns
        -------
        self
        """
        dtype = _float_dtype(X)
        names = feature_names(X)
        X = check_array(X, "X")
        n_clusters, n_init, max_iter = self._validate_params(X)
        self._n_init = n_init  # the number of starts 'auto' resolved to (scikit-learn's private name)
        w = check_sample_weight(sample_weight, X.shape[0])
        total_weight = _weight_for_magnitude(w)
        check_magnitude(X, "X", total_weight=total_weight)
        tol = tolerance(X, w, float(self.tol))
        verbose = bool(self.verbose)
        init = self.init
        if callable(init):  # draws from the RandomState scikit-learn would pass, and only from it
            legacy_rng = self._legacy_random_state()
        else:
            rng = _draws(self.random_state)
        if not isinstance(init, str) and not callable(init):
            init = _check_init_shape(check_array(init, "init"), n_clusters, X.shape[1])
            check_magnitude(init, "init", total_weight=total_weight)
        best = None
        for _ in range(n_init):
            if isinstance(init, np.ndarray):
                centers0 = init
            elif callable(init):
                centers0 = _check_init_shape(
                    check_array(init(X, n_clusters, random_state=legacy_rng), "init"),
                    n_clusters,
                    X.shape[1],
                )
                check_magnitude(centers0, "init", total_weight=total_weight)
            elif init == "k-means++":
                centers0 = plusplus_init(X, w, n_clusters, rng)
            else:
                centers0 = random_init(X, w, n_clusters, rng)
            if verbose:
                print("Initialization complete")
            run = lloyd(X, w, centers0, max_iter, tol, verbose=verbose, threads_from=GENERAL_PARALLEL_MIN_POINTS)
            if best is None or run[1] < best[1]:
                best = run
        labels, inertia, centers, n_iter = best  # type: ignore[misc]
        n_distinct = int(np.count_nonzero(np.bincount(labels, minlength=n_clusters)))
        if n_distinct < n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({n_distinct}) found smaller than "
                f"n_clusters ({n_clusters}). Possibly due to duplicate points in X.",
                _convergence_warning(),
                stacklevel=2,
            )
        self.cluster_centers_: np.ndarray = centers.astype(dtype, copy=False)
        self._n_features_out = n_clusters
        self.labels_ = labels.astype(np.int32)  # scikit-learn's dtype (the workers' labels are intp)
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        self.n_features_in_ = X.shape[1]
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):  # refitted on data without names
            del self.feature_names_in_
        return self

    def _legacy_random_state(self) -> np.random.RandomState:
        """What scikit-learn passes a callable ``init`` (its ``check_random_state``): the
        caller's RandomState itself, or one seeded with the caller's int (a fresh one for None,
        one seeded from a Generator's draw)."""
        rs = self.random_state
        if isinstance(rs, np.random.RandomState):
            return rs
        if isinstance(rs, np.random.Generator):
            return np.random.RandomState(int(rs.integers(2**32 - 1)))
        return np.random.RandomState(rs)

    def _check_fitted_X(self, X: Any) -> np.ndarray:
        if not hasattr(self, "cluster_centers_"):
            raise _not_fitted_error(
                "This KMeans instance is not fitted yet; call 'fit' with appropriate arguments first."
            )
        self._check_feature_names(X)
        X = check_array(X, "X")
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but KMeans is expecting {self.n_features_in_} features as input."
            )
        # One distance at a time (labels, transform's expanded |x|^2 - 2 x.c + |c|^2): as fit's least.
        return check_magnitude(X, "X", total_weight=_MIN_MAGNITUDE_WEIGHT)

    def _check_feature_names(self, X: Any) -> None:
        """scikit-learn's check of ``X``'s column names against ``feature_names_in_``, with its
        warnings and error (``sklearn.utils.validation._check_feature_names``, ``reset=False``):
        a warning when only one of them has names, an error when the names differ."""
        fitted = getattr(self, "feature_names_in_", None)
        given = feature_names(X)
        if fitted is None and given is None:
            return
        if fitted is None:
            warnings.warn("X has feature names, but KMeans was fitted without feature names", UserWarning, stacklevel=4)
            return
        if given is None:
            warnings.warn(
                "X does not have valid feature names, but KMeans was fitted with feature names",
                UserWarning,
                stacklevel=4,
            )
            return
        if len(fitted) == len(given) and np.all(fitted == given):
            return
        unexpected, missing = sorted(set(given) - set(fitted)), sorted(set(fitted) - set(given))

        def listed(names: list[str]) -> str:
            return "".join(f"- {n}\n" for n in names[:5]) + ("- ...\n" if len(names) > 5 else "")

        message = "The feature names should match those that were passed during fit.\n"
        if unexpected:
            message += "Feature names unseen at fit time:\n" + listed(unexpected)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + listed(missing)
        if not unexpected and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)

    def set_output(self, *, transform: str | None = None) -> KMeans:
        """Set the output container of ``transform`` and ``fit_transform``, as scikit-learn's.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"}, default=None
            "default": numpy arrays; "pandas" / "polars": a data frame with the columns
            of ``get_feature_names_out()`` (and, for pandas, the index of a pandas ``X``);
            None: unchanged. The library is imported when a transform first needs it.
            Without a setting, scikit-learn's global ``transform_output`` applies
            (``sklearn.set_config``) if scikit-learn is loaded.

        Returns
        -------
        self
        """
        if transform is None:
            return self
        # scikit-learn's attribute name: its clone() and meta-estimators carry it over.
        if not hasattr(self, "_sklearn_output_config"):
            self._sklearn_output_config: dict[str, Any] = {}
        self._sklearn_output_config["transform"] = transform
        return self

    def _wrap_output(self, data: np.ndarray, X: Any) -> Any:
        """``data`` in the container ``set_output`` (or scikit-learn's global setting) asks for:
        ``sklearn.utils._set_output._wrap_data_with_container``, checks and messages included."""
        config = getattr(self, "_sklearn_output_config", {})
        if "transform" in config:
            output = config["transform"]
        else:
            sk_config = sys.modules.get("sklearn._config")
            output = "default" if sk_config is None else sk_config.get_config()["transform_output"]
        if output not in _OUTPUTS:
            raise ValueError(f"output config must be in {sorted(_OUTPUTS)}, got {output}")
        if output == "default":
            return data
        try:
            lib = importlib.import_module(output)
        except ImportError:
            raise ImportError(f"Setting output container to '{output}' requires {output} to be installed") from None
        columns = self.get_feature_names_out()
        if output == "polars":
            return lib.DataFrame(data, schema=columns.tolist(), orient="row")
        index = X.index if isinstance(X, (lib.DataFrame, lib.Series)) else None
        frame = lib.DataFrame(data, index=index, copy=False)
        frame.columns = columns
        return frame

    def _centers64(self) -> np.ndarray:
        return np.asarray(self.cluster_centers_, dtype=np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """Index of the closest centre for each sample, int32 as scikit-learn's: exact, ties to the
        lowest index, as ``labels_`` (products decide the clear cases; near ties, explicit
        differences; scikit-learn's products alone lose most labels for data around 1e9)."""
        X = self._check_fitted_X(X)
        return self._nearest(X).astype(np.int32)

    def _nearest(self, X: np.ndarray) -> np.ndarray:
        """Exact nearest centres of ``X`` (checked), ties to the lowest index: up to
        ``_SCAN_MAX_FEATURES`` features by the kernels' block search on differences, once they are
        loaded, otherwise by products and differences (``_nearest.exact_labels``); the same labels."""
        C = self._centers64()
        if X.shape[1] <= _SCAN_MAX_FEATURES:
            done = _backend.nearest_hinted_compiled(X, C, np.zeros(X.shape[0], dtype=np.intp), scan=True)
            if done is not None:
                return done[0]
        return exact_labels(X, C)

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit, then return ``labels_`` (int32)."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X: Any) -> Any:
        """Euclidean distance of every sample to every centre, shape (n_samples, n_clusters);
        float32 when both ``X`` and ``cluster_centers_`` are float32, float64 otherwise, as
        scikit-learn's (a data frame after ``set_output``)."""
        return self._wrap_output(self._transform(X), X)

    def _transform(self, X: Any) -> np.ndarray:
        x_dtype = _float_dtype(X)
        X = self._check_fitted_X(X)
        # scikit-learn's euclidean_distances(X, cluster_centers_): float32 only if both are
        dtype = np.float32 if x_dtype == self.cluster_centers_.dtype == np.float32 else np.float64
        c = self._centers64()
        # Relative to the centres' mean where it is farther from the origin than they are from it:
        # there (data around 1e9) the products below would round every distance to the offset's
        # scale. Near the origin the copy of X would only cost time (20,000 x 64: 7 against 12 ms).
        shift = c.mean(axis=0)
        if shift @ shift > np.mean(np.einsum("ij,ij->i", c - shift, c - shift)):
            X = X - shift
            c = c - shift
        with _backend.narrow_products(X.shape[0], c.shape[0], X.shape[1]):
            d = X @ c.T
        # |x|^2 - 2 x.c + |c|^2 in place: the same sums (a sum does not depend on its operands' order,
        # and -2 is exact), without four temporaries of n x K (30,000 x 256: 80 ms, now about 30)
        d *= -2.0
        d += np.einsum("ij,ij->i", X, X)[:, None]
        d += np.einsum("ij,ij->i", c, c)[None, :]
        np.maximum(d, 0.0, out=d)
        return np.sqrt(d, out=d).astype(dtype, copy=False)

    def fit_transform(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """Fit, then return the distances to the centres (a data frame after ``set_output``)."""
        return self._wrap_output(self.fit(X, sample_weight=sample_weight)._transform(X), X)

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> float:
        """Opposite of the (weighted) inertia of ``X`` on the fitted centres: higher is better."""
        X = self._check_fitted_X(X)
        w = check_sample_weight(sample_weight, X.shape[0])
        # The distances by differences, added in index order: the fit's inertia to the last bit on
        # its own data, whichever path runs.
        return -inertia_in_order(X, w, self._centers64(), self._nearest(X))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the columns of ``transform``'s output: ``kmeans0``, ``kmeans1``, ...

        ``input_features`` (optional) is only checked: it must have ``n_features_in_`` names,
        equal to ``feature_names_in_`` when that is set.
        """
        if not hasattr(self, "cluster_centers_"):
            raise _not_fitted_error(
                "This KMeans instance is not fitted yet; call 'fit' with appropriate arguments first."
            )
        fitted = getattr(self, "feature_names_in_", None)
        if (
            input_features is not None
            and fitted is not None
            and not np.array_equal(fitted, np.asarray(input_features, dtype=object))
        ):
            raise ValueError("input_features is not equal to feature_names_in_")
        if input_features is not None and len(input_features) != self.n_features_in_:
            raise ValueError(
                f"input_features should have length equal to number of features ({self.n_features_in_}), "
                f"got {len(input_features)}"
            )
        return np.asarray([f"kmeans{i}" for i in range(self._n_features_out)], dtype=object)


#: The containers ``set_output`` knows (scikit-learn's ``ADAPTERS_MANAGER.supported_outputs``).
_OUTPUTS = frozenset({"default", "pandas", "polars"})


def _check_init_shape(centers: np.ndarray, n_clusters: int, n_features: int) -> np.ndarray:
    """Initial centres of the right shape, or scikit-learn's error for a wrong one."""
    if centers.shape[0] != n_clusters:
        raise ValueError(
            f"The shape of the initial centers {centers.shape} does not match the number of clusters {n_clusters}."
        )
    if centers.shape[1] != n_features:
        raise ValueError(
            f"The shape of the initial centers {centers.shape} does not match the number of features "
            f"of the data {n_features}."
        )
    return centers


def _same_value(a: Any, b: Any) -> bool:
    """For ``repr``: is a parameter at its default (arrays and callables never are)?"""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray) or type(a) is not type(b):
        return a is b
    try:
        return bool(a == b)
    except Exception:
        return False


def _is_array_like(value: Any) -> bool:
    """scikit-learn's "array-like" for a parameter (``_is_arraylike_not_scalar``): something with a
    length, a shape or ``__array__``, and not a scalar."""
    return (hasattr(value, "__len__") or hasattr(value, "shape") or hasattr(value, "__array__")) and not np.isscalar(
        value
    )


_invalid_parameter_class: dict[type, type] = {}


def _invalid_parameter_error(message: str) -> Exception:
    """Our InvalidParameterError; also an instance of scikit-learn's when that is loaded (any
    scikit-learn estimator loads its module), so ``except`` clauses written for it match."""
    sk_validation = sys.modules.get("sklearn.utils._param_validation")
    sk_class = getattr(sk_validation, "InvalidParameterError", None)
    if not isinstance(sk_class, type) or not issubclass(sk_class, Exception):
        return InvalidParameterError(message)
    if sk_class not in _invalid_parameter_class:

        class _Both(InvalidParameterError, sk_class):  # type: ignore[misc, valid-type]
            pass

        _Both.__name__ = _Both.__qualname__ = "InvalidParameterError"
        _invalid_parameter_class[sk_class] = _Both
    return _invalid_parameter_class[sk_class](message)


def _not_fitted_error(message: str) -> Exception:
    """Our NotFittedError; also an instance of scikit-learn's when that is installed."""
    sk_exceptions = sys.modules.get("sklearn.exceptions")
    if sk_exceptions is None:  # nobody can be catching scikit-learn's class
        return NotFittedError(message)
    SkNotFitted = sk_exceptions.NotFittedError

    class _Both(NotFittedError, SkNotFitted):  # type: ignore[misc, valid-type]  # a class known only at run time
        pass

    _Both.__name__ = "NotFittedError"
    return _Both(message)
