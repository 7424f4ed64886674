cimport cython

# Types for compiling detectors/stuck.py with Cython (pure-Python mode; see setup.py).
cdef class StuckRun:
    cdef public Py_ssize_t min_run, _run, _longest
    cdef public double growth
    cdef public object _last

    cpdef double _limit(self)
    @cython.locals(last=double)
    cpdef Py_ssize_t run_if(self, double v)
    cpdef bint crossing(self, double v)
    cpdef learn(self, double v)
