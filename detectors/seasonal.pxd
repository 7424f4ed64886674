cimport cython

# Types for compiling detectors/seasonal.py with Cython (pure-Python mode; see setup.py).
cdef class SeasonalProfile:
    cdef public double period_s, bucket_s, alpha
    cdef public Py_ssize_t min_count, _n_buckets
    cdef public object _mean, _var, _count  # array.array: what pickles
    cdef double[::1] _mean_v, _var_v  # typed views of the same memory: what the hot path indexes
    cdef unsigned int[::1] _count_v

    cpdef _bind(self)
    @cython.locals(k=Py_ssize_t)
    cpdef Py_ssize_t bucket(self, double ts)
    cpdef object expected_at(self, Py_ssize_t b)
    @cython.locals(mean=double)
    cpdef tuple residual_z_at(self, Py_ssize_t b, double v, double floor)
    @cython.locals(a=double, d=double)
    cpdef learn_at(self, Py_ssize_t b, double v)
