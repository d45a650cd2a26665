/* The catalogue, enhanced: the page works without this file (plain GET forms and links).
 *
 * - the order applies as soon as it is picked (without JS: the "Sort" button, which sits in
 *   <noscript> so nothing shifts when this file arrives);
 * - "Show more courses" appends the next courses in place instead of loading the page
 *   again, and puts the new address in the history, so a reload or a shared link shows
 *   the same courses (the server shows page n as the first n pages).
 */
"use strict";

(() => {
  const sortForm = document.querySelector(".sort-form[data-autosubmit]");
  if (sortForm) {
    // (its button is in <noscript>: without this file, the order applies by that button)
    sortForm.querySelector("select").addEventListener("change", () => sortForm.submit());
  }

  const list = document.querySelector(".course-list");
  document.addEventListener("click", async (event) => {
    const link = event.target.closest(".more-link");
    if (!link || !list || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    if (link.getAttribute("aria-busy") === "true") return;
    link.setAttribute("aria-busy", "true");
    try {
      const response = await fetch(link.href, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const have = list.children.length;
      const cards = [...page.querySelectorAll(".course-list > li")].slice(have);
      cards.forEach((card) => list.append(document.importNode(card, true)));
      // update the "12 of 40 shown" line in place (a live region, so it is read out) and
      // swap the link for the next one, if any
      const fresh = page.querySelector("#more");
      const said = document.querySelector("#more p");
      const says = fresh && fresh.querySelector("p");
      if (said && says) said.textContent = says.textContent;
      const next = fresh && fresh.querySelector(".more-link");
      if (next) link.replaceWith(document.importNode(next, true));
      else link.remove();
      const url = new URL(link.href);
      url.hash = "";
      history.replaceState(history.state, "", url);
      const first = cards.length ? list.children[have].querySelector("a") : null;
      if (first) first.focus();
    } catch (error) {
      window.location.href = link.href; // let the server do it
    }
  });
})();
