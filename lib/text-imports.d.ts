// Files the bundler embeds as text (`import s from "./x.sh" with { type: "text" }`).
declare module "*.sh" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const text: string;
  export default text;
}
declare module "@xterm/xterm/lib/xterm.js" {
  const text: string;
  export default text;
}
declare module "@xterm/addon-fit/lib/addon-fit.js" {
  const text: string;
  export default text;
}
declare module "asciinema-player/dist/bundle/asciinema-player.min.js" {
  const text: string;
  export default text;
}
