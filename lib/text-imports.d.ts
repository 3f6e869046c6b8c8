// Files the bundler embeds as text (`import s from "./x.sh" with { type: "text" }`).
declare module "*.sh" {
  const text: string;
  export default text;
}
declare module "*.css" {
  const text: string;
  export default text;
}
