//! `use_ticker`: calls back every `period` while the component is mounted (and starts over when `dep`
//! changes), for the pages that follow work under way until the live stream replaces them; and
//! `use_reload`: a revision to load again on, bumped by a callback that stays right when kept.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use yew::platform::spawn_local;
use yew::platform::time::sleep;
use yew::prelude::*;

#[derive(Default, PartialEq)]
struct Revision(u32);

impl Reducible for Revision {
    type Action = ();
    fn reduce(self: Rc<Self>, _: ()) -> Rc<Self> {
        Rc::new(Revision(self.0.wrapping_add(1)))
    }
}

/// A revision (for an effect's dependencies) and the callback that moves it on. The callback bumps the
/// current revision, not the one of the render it was made in, so a ticker may keep it.
#[hook]
pub fn use_reload() -> (u32, Callback<()>) {
    let rev = use_reducer(Revision::default);
    let bump = rev.dispatcher();
    (rev.0, Callback::from(move |()| bump.dispatch(())))
}

#[hook]
pub fn use_ticker<D: PartialEq + Clone + 'static>(dep: D, period: Duration, on_tick: Callback<()>) {
    use_effect_with(dep, move |_| {
        let alive = Rc::new(Cell::new(true));
        let running = alive.clone();
        spawn_local(async move {
            loop {
                sleep(period).await;
                if !running.get() {
                    break;
                }
                on_tick.emit(());
            }
        });
        move || alive.set(false)
    });
}
