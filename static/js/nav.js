// On a phone the chapter list is one row that scrolls sideways: bring the current chapter into view.
const active = document.querySelector(".chapters .chapter-link.active");
const list = active && active.parentElement;
if (list && list.scrollWidth > list.clientWidth) {
  list.scrollLeft = active.offsetLeft - (list.clientWidth - active.offsetWidth) / 2;
}
