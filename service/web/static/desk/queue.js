/* The desk's queue (an ES module): a select-all box for the rows of this page, shift-click to tick a run of rows,
   how many are ticked in the bulk bar, and its button off while none is. Without this script the page still
   filters (the state chips are links) and assigns in bulk (the form posts the ticked boxes). */

const form = document.getElementById("bulk");

function setUp(form) {
  const all = form.querySelector("#select-all");
  const boxes = Array.from(form.querySelectorAll('tbody input[name="case_no"]'));
  const count = form.querySelector("#bulk-count");
  const send = form.querySelector('.bulk-bar button[type="submit"]');
  let last = null;  // the box ticked or cleared last, where a shift-click's run starts

  function show() {
    const ticked = boxes.filter(function (box) { return box.checked; }).length;
    all.checked = ticked > 0 && ticked === boxes.length;
    all.indeterminate = ticked > 0 && ticked < boxes.length;
    count.textContent = `已选 ${ticked} 件`;
    count.classList.toggle("some", ticked > 0);
    send.disabled = ticked === 0;
    boxes.forEach(function (box) { box.closest("tr").classList.toggle("ticked", box.checked); });
  }

  all.hidden = false;
  all.disabled = boxes.length === 0;
  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
    last = null;
    show();
  });
  boxes.forEach(function (box) {
    box.addEventListener("click", function (event) {
      if (event.shiftKey && last && last !== box) {
        const [from, to] = [boxes.indexOf(last), boxes.indexOf(box)].sort(function (a, b) { return a - b; });
        boxes.slice(from, to + 1).forEach(function (one) { one.checked = box.checked; });
      }
      last = box;
      show();
    });
  });
  // a page brought back from the browser's cache keeps its ticks: count them again
  window.addEventListener("pageshow", show);
  show();
}

if (form) { setUp(form); }
