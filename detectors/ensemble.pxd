cimport cython

from detectors.likelihood cimport TailLikelihood
from detectors.range_break cimport RangeBreak
from detectors.seasonal cimport SeasonalProfile
from detectors.stuck cimport StuckRun

# Types for compiling detectors/ensemble.py with Cython (pure-Python mode; see setup.py).
# OnsetEnsemble, the river-facing class, stays a Python class; OnsetState is its compiled state.
cdef class OnsetState:
    cdef public Py_ssize_t warmup, refractory, horizon, confirm_window
    cdef public double threshold, confirm_break, jump_break, break_scale, seasonal_decades
    cdef public double level_alpha, spread_alpha
    cdef public RangeBreak _value_range, _step_range, _spread_range, _seasonal_range
    cdef public StuckRun _stuck
    cdef public SeasonalProfile _quarter_hour_profile, _hour_of_day_profile, _hour_of_week_profile
    cdef public TailLikelihood _seasonal_tail
    cdef public double _spread_mean, _spread_var, _level, _mean
    cdef public object _prev
    cdef public Py_ssize_t _n, _last_break, _since_fire
    cdef public object _cache, _comp_cache, _exp_cache

    @cython.locals(step=double, a=double, d=double, spread=double, level=double, floor=double,
                   z_seasonal=double, z_week=double, step_brk=double, spread_brk=double, brk=double)
    cpdef tuple _features(self, double v, object ts)
    cpdef object _expected(self, object ts)
    cpdef tuple _components(self, double v, object ts)
    @cython.locals(z_seasonal=double, brk=double, score=double, s=double, decades=double)
    cpdef tuple _components_uncached(self, double v, object ts)
    cpdef bint _quiet(self)

    @cython.locals(n=Py_ssize_t, step=double, a=double, d_spread=double, spread=double, level=double,
                   b_qh=Py_ssize_t, b_hod=Py_ssize_t, b_how=Py_ssize_t, floor=double,
                   z_seasonal=double, z_week=double, step_brk=double, spread_brk=double,
                   jump=double, brk=double, quiet=bint, score=double, s=double, s_out=double,
                   qh=SeasonalProfile, hod=SeasonalProfile, how=SeasonalProfile)
    cpdef tuple update(self, double v, object ts, double threshold)
