cimport cython

# Types for compiling detectors/likelihood.py with Cython (pure-Python mode; see setup.py).
cdef class TailLikelihood:
    cdef public double level, _rate_n, _rate_mean, _excess_n, _excess_mean
    cdef public Py_ssize_t warmup, _n

    @cython.locals(rate=double, scale=double)
    cpdef double decades(self, double z)
    @cython.locals(above=bint, x=double)
    cpdef learn(self, double z)
