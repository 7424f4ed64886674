cimport cython

# Types for compiling detectors/range_break.py with Cython (pure-Python mode; see setup.py).
cdef class RangeBreak:
    cdef public Py_ssize_t horizon, n_blocks, _block_len, _cur_n
    cdef public bint two_sided
    cdef public list _blocks
    cdef public object _cur_lo, _cur_hi, lo, hi

    @cython.locals(hi=double, lo=double, rng=double)
    cpdef double excess(self, double x)
    @cython.locals(cur_lo=double, cur_hi=double, lo=double, hi=double)
    cpdef learn(self, double x)
