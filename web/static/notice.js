// Small DOM helpers shared by the lobby and the call.

/** Shows problem ({title, hint, noRetry}) in box, or hides box (null). */
export function showNotice(box, retry, problem) {
  box.hidden = !problem;
  if (!problem) return;
  box.querySelector(".notice-title").textContent = problem.title;
  box.querySelector(".notice-hint").textContent = problem.hint;
  retry.hidden = !!problem.noRetry;
}

/** Copies text to the clipboard and says so on button for a moment. */
export async function copyText(button, text, fallbackInput) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    fallbackInput?.select(); // no clipboard access: let the user copy
    return false;
  }
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = "Copied";
  setTimeout(() => (button.textContent = label), 1500);
  return true;
}
