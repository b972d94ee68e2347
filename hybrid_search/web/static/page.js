// Changing the mode re-runs the query. A file of its own: the page's Content-Security-Policy allows no
// inline script or event handler.
document.addEventListener("DOMContentLoaded", () => {
  const mode = document.getElementById("mode");
  mode.addEventListener("change", () => {
    if (mode.form.q.value.trim()) mode.form.submit();
  });
});
