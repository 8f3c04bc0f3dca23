//! JavaScript objects shared by every answer that carries the same immutable core value.
//!
//! A cached skills view or routing decision is one `Arc` the core hands out call after call.
//! Its object is made once and handed out again while JavaScript holds it, so a cache hit
//! creates no class instance (making one costs the engine about 2 µs). Each env keeps a table
//! from the `Arc`'s address to a weak reference to its object; the table keeps the `Arc`, so
//! the address cannot be reused while it is a key. A new value (a new view version, a new
//! decision) is a new `Arc` and gets an object of its own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use napi::sys;

use crate::literal::ok;

/// Sweep a table of collected objects after this many insertions.
const SWEEP_EVERY: usize = 1024;

/// One env's objects for values of type `T`.
pub struct Shared<T> {
    env: sys::napi_env,
    by_address: HashMap<usize, (Arc<T>, sys::napi_ref)>,
    /// Insertions since the last sweep of collected objects.
    since_sweep: usize,
}

impl<T> Shared<T> {
    /// The object of `inner` in `env`: the one made before while JavaScript still holds it,
    /// else a new one from `make`.
    ///
    /// # Safety
    /// `env` must be the live env of the current call, on its JavaScript thread.
    pub unsafe fn object(
        table: &'static std::thread::LocalKey<RefCell<Option<Self>>>,
        env: sys::napi_env,
        inner: Arc<T>,
        make: impl FnOnce(&Arc<T>) -> napi::Result<sys::napi_value>,
    ) -> napi::Result<sys::napi_value> {
        let address = Arc::as_ptr(&inner) as usize;
        table.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.as_ref().is_none_or(|t| t.env != env) {
                *slot = Some(Self {
                    env,
                    by_address: HashMap::new(),
                    since_sweep: 0,
                });
            }
            let objects = slot.as_mut().expect("set just above");
            // SAFETY: `env` is the live env of the current call; the references belong to it.
            unsafe {
                if let Some((_, reference)) = objects.by_address.get(&address) {
                    let mut object = std::ptr::null_mut();
                    ok(sys::napi_get_reference_value(env, *reference, &mut object))?;
                    if !object.is_null() {
                        return Ok(object);
                    }
                }
                let object = make(&inner)?;
                let mut reference = std::ptr::null_mut();
                ok(sys::napi_create_reference(env, object, 0, &mut reference))?;
                if let Some((_, old)) = objects.by_address.insert(address, (inner, reference)) {
                    sys::napi_delete_reference(env, old);
                }
                objects.since_sweep += 1;
                if objects.since_sweep >= SWEEP_EVERY {
                    objects.since_sweep = 0;
                    objects.sweep();
                }
                Ok(object)
            }
        })
    }

    /// Drops the entries whose objects were collected.
    unsafe fn sweep(&mut self) {
        let env = self.env;
        self.by_address.retain(|_, (_, reference)| {
            let mut object = std::ptr::null_mut();
            // SAFETY: the references belong to `env`, the live env of the current call.
            unsafe {
                sys::napi_get_reference_value(env, *reference, &mut object);
                if object.is_null() {
                    sys::napi_delete_reference(env, *reference);
                }
            }
            !object.is_null()
        });
    }
}
