/* Support queue counts and unread alerts beside the staff navbar's "Support" entries,
   fetched after the page is shown (the menu itself is cached per permission set). */
(function () {
  var links = document.querySelectorAll('.navbar a[href*="/support/queues/"], .navbar a[href$="/support/alerts/"]');
  if (!links.length) return;
  fetch('/support/queues/counts', {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (data) {
      if (!data) return;
      Array.prototype.forEach.call(links, function (a) {
        var path = a.getAttribute('href').replace(/\/$/, '');
        var slug = path.split('/').pop();
        var n = path.endsWith('/support/alerts') ? data.unread_alerts : data.queues[slug];
        if (n === undefined) return;
        var badge = document.createElement('span');
        badge.className = 'badge atrium-count' + (path.endsWith('/support/alerts') && n ? ' atrium-unread' : '');
        badge.setAttribute('data-count-for', slug);
        badge.textContent = n;
        a.appendChild(document.createTextNode(' '));
        a.appendChild(badge);
      });
    }).catch(function () {});
})();
