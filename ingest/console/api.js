// Calls to Kefu's HTTP API. The console authenticates by its HttpOnly cookie and
// echoes the CSRF token (the kefu_csrf cookie) on every state-changing call; the demo
// customer passes its session as a Bearer token instead.

export class ApiFailure extends Error {
  constructor(body, httpStatus) {
    super(body.debug || body.error_name || `HTTP ${httpStatus}`);
    this.body = body;
    this.httpStatus = httpStatus;
    this.code = body.error;
    this.field = body.field;
  }
}

export function cookie(name) {
  const found = document.cookie.split(";").map((c) => c.trim()).find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

export function query(params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? "?" + s : "";
}

/** A client: `bearer` for a session token, else the console's cookie. */
export function client({ bearer } = {}) {
  const headers = (json) => {
    const h = { accept: "application/json" };
    if (json) h["content-type"] = "application/json";
    if (bearer) h.authorization = "Bearer " + bearer;
    else h["x-csrf-token"] = cookie("kefu_csrf");
    return h;
  };
  async function answer(res) {
    let body;
    try {
      body = await res.json();
    } catch {
      body = { debug: `HTTP ${res.status}` };
    }
    if (!res.ok || (body.status !== 200 && body.status !== 202)) throw new ApiFailure(body, res.status);
    return body;
  }
  return {
    headers,
    async get(path, params) {
      return answer(await fetch(path + query(params), { headers: headers(false), credentials: "same-origin" }));
    },
    async send(method, path, fields = {}) {
      const init = { method, headers: headers(true), credentials: "same-origin", body: JSON.stringify(fields) };
      return answer(await fetch(path, init));
    },
    post(path, fields) {
      return this.send("POST", path, fields);
    },
    /** A POST whose upload progress is reported (0–100) while the body goes out. */
    upload(path, fields, onProgress) {
      return new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest();
        xhr.open("POST", path);
        for (const [k, v] of Object.entries(headers(true))) xhr.setRequestHeader(k, v);
        xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(Math.round((100 * e.loaded) / e.total));
        xhr.onerror = () => reject(new ApiFailure({ debug: "network error" }, 0));
        xhr.onload = () => {
          let body;
          try {
            body = JSON.parse(xhr.responseText);
          } catch {
            body = { debug: `HTTP ${xhr.status}` };
          }
          if (xhr.status >= 300 || body.status !== 200) reject(new ApiFailure(body, xhr.status));
          else resolve(body);
        };
        xhr.send(JSON.stringify(fields));
      });
    },
  };
}

/** Bytes as base64 (the API's image and audio fields). */
export async function base64Of(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return btoa(binary);
}

/** A picture as JPEG bytes: a JPEG file as it is, any other image re-encoded. */
export async function asJpeg(file) {
  const head = new Uint8Array(await file.slice(0, 3).arrayBuffer());
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return file;
  if (!file.type.startsWith("image/")) return null;
  const bitmap = await createImageBitmap(file);
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff"; // transparent pixels would turn black in a JPEG
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(bitmap, 0, 0);
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
}
