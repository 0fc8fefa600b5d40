// The exchange code page: ask for the wallet every few seconds; once staff have confirmed a redemption newer than
// the one before the code was shown, put the receipt where the code was. When the code expires, say so.
const page = document.getElementById("code-page");
const words = JSON.parse(page.dataset.words);
const before = Number(page.dataset.latest);
const expires = Date.parse(page.dataset.expires);
const receipt = document.getElementById("receipt");

function show(redemption) {
  receipt.replaceChildren();
  const title = document.createElement("h2");
  title.textContent = `✓ ${words.receipt}`;
  const list = document.createElement("ul");
  for (const item of redemption.items) {
    const line = document.createElement("li");
    line.textContent = `${item.name} × ${item.qty} · ${item.flowers * item.qty} ${words.flowers}`;
    list.append(line);
  }
  const total = document.createElement("p");
  total.className = "total";
  total.textContent = `−${redemption.points} ${words.points} · ${words.left} ${redemption.balance.points} ${words.points}`;
  const when = document.createElement("p");
  when.textContent = redemption.created_at.replace("T", " ").slice(0, 16);
  receipt.append(title, list, total, when);
  receipt.hidden = false;
  document.getElementById("code-shown").hidden = true;
}

async function look() {
  if (Date.now() > expires) {
    document.getElementById("waiting").textContent = words.expired;
    return;
  }
  try {
    const answer = await fetch("/api/v1/me/wallet", {headers: {Accept: "application/json"}, credentials: "same-origin"});
    if (answer.ok) {
      const wallet = await answer.json();
      if (wallet.last_redemption && wallet.last_redemption.id > before) {
        show(wallet.last_redemption);
        return;
      }
    }
  } catch (_) { /* no signal for a moment: ask again */ }
  setTimeout(look, 3000);
}

setTimeout(look, 2000);
page.dataset.ready = "1";
