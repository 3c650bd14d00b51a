// What to tell a person whose camera or microphone could not be used, and
// how they can fix it. No DOM code.

/**
 * The problem with media (a result of acquireMedia), or null.
 * @returns {{code: string, title: string, hint: string, noRetry?: boolean} | null}
 */
export function mediaProblem(media) {
  switch (media.problem) {
    case "denied":
      return {
        code: "denied",
        title: "Camera and microphone are blocked",
        hint: `${allowHint()} Then press Retry. Meanwhile the others see a test pattern.`,
      };
    case "busy":
      return {
        code: "busy",
        title: "Camera or microphone is in use",
        hint: "Another application or tab holds the device. Close it, then press Retry. Meanwhile the others see a test pattern.",
      };
    case "insecure":
      return {
        code: "insecure",
        noRetry: true,
        title: "Camera needs HTTPS",
        hint: "Browsers share cameras with secure pages only: open this page over https:// or on localhost.",
      };
    default:
      return null;
  }
}

function allowHint() {
  const ua = navigator.userAgent;
  if (/Firefox\//.test(ua)) return "Click the crossed-out camera icon left of the address bar and clear the blocks.";
  if (/Safari\//.test(ua) && !/Chrom/.test(ua)) return "Open Safari › Settings for This Website and set Camera and Microphone to Allow.";
  return "Click the camera icon (or the site settings icon) at the left of the address bar and allow camera and microphone.";
}
