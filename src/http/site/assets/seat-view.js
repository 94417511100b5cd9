// The seat map: one grid per section, a button per seat, kept current by the seat events.
// Keyboard: Tab reaches each section's grid, the arrow keys move between seats (Home and
// End to a row's ends), Space or Enter picks a seat. Status is told by text and a symbol,
// never by colour alone.

import * as fmt from "./format.js";

const STATUS_WORDS = {
  available: "available",
  selected: "selected",
  mine: "held for you",
  held: "held by someone else",
  sold: "sold",
};

export class SeatMap {
  /** `onPick(seatId)` runs when a person picks or unpicks a seat. */
  constructor(root, onPick) {
    this.root = root;
    this.onPick = onPick;
    this.seats = new Map();
    this.buttons = new Map();
    this.mine = new Set();
    this.selected = new Set();
  }

  /** Draws the whole map from a seat list (`GET .../seats` or a `snapshot` event). */
  render(list) {
    const known = this.seats.size > 0 && list.seats.every((seat) => this.buttons.has(seat.id));
    list.seats.forEach((seat) => this.seats.set(seat.id, { ...seat }));
    this.selected.forEach((id) => this.seats.get(id)?.status !== "available" && this.selected.delete(id));
    if (!known) this.build(list.seats);
    this.seats.forEach((seat) => this.paint(seat.id));
    this.root.setAttribute("aria-busy", "false");
  }

  /** A `seats` event: `{held, released, sold}`. */
  apply(delta) {
    const set = (ids, status) =>
      ids.forEach((id) => {
        const seat = this.seats.get(id);
        if (!seat) return;
        seat.status = status;
        if (status !== "available") this.selected.delete(id);
        this.paint(id);
      });
    set(delta.released ?? [], "available");
    set(delta.held ?? [], "held");
    set(delta.sold ?? [], "sold");
  }

  setMine(ids) {
    const before = [...this.mine];
    this.mine = new Set(ids);
    ids.forEach((id) => {
      const seat = this.seats.get(id);
      if (seat) seat.status = "held";
      this.selected.delete(id);
    });
    [...before, ...ids].forEach((id) => this.paint(id));
  }

  /** Marks seats someone else took (a 409 names them). */
  taken(ids) {
    this.apply({ held: ids });
  }

  toggle(id) {
    if (this.selected.has(id)) this.selected.delete(id);
    else if (this.status(id) === "available") this.selected.add(id);
    this.paint(id);
  }

  clearSelection() {
    const was = [...this.selected];
    this.selected.clear();
    was.forEach((id) => this.paint(id));
  }

  seat(id) {
    return this.seats.get(id);
  }

  status(id) {
    const seat = this.seats.get(id);
    if (!seat) return "sold";
    if (this.mine.has(id) && seat.status === "held") return "mine";
    if (seat.status === "available" && this.selected.has(id)) return "selected";
    return seat.status;
  }

  describe(id) {
    const seat = this.seats.get(id);
    return `Row ${seat.row} seat ${seat.number}, ${seat.section}, ${fmt.price(seat.price_cents)}`;
  }

  paint(id) {
    const button = this.buttons.get(id);
    if (!button) return;
    const status = this.status(id);
    button.dataset.status = status;
    button.setAttribute("aria-pressed", String(status === "selected"));
    button.setAttribute("aria-disabled", String(status !== "available" && status !== "selected"));
    button.setAttribute("aria-label", `${this.describe(id)}, ${STATUS_WORDS[status]}`);
  }

  build(seats) {
    this.buttons.clear();
    const fragment = document.createDocumentFragment();
    const stage = document.createElement("p");
    stage.id = "stage";
    stage.className = "stage";
    stage.textContent = "Stage";
    fragment.append(stage);
    for (const [section, rows] of grouped(seats)) fragment.append(this.section(section, rows));
    this.root.replaceChildren(fragment);
  }

  section(name, rows) {
    const prices = [...rows.values()].flat().map((seat) => seat.price_cents);
    const low = Math.min(...prices);
    const high = Math.max(...prices);
    const wrapper = document.createElement("section");
    wrapper.className = "seat-section";
    const heading = document.createElement("h2");
    heading.textContent = `${name} · ${low === high ? fmt.price(low) : `${fmt.price(low)} to ${fmt.price(high)}`}`;
    const grid = document.createElement("div");
    grid.setAttribute("role", "grid");
    grid.setAttribute("aria-label", `${name} seats, ${rows.size} rows`);
    grid.className = "seat-grid";
    let first = true;
    for (const [row, seats] of rows) {
      const line = document.createElement("div");
      line.setAttribute("role", "row");
      line.className = "seat-row";
      const label = document.createElement("span");
      label.setAttribute("role", "rowheader");
      label.className = "row-label";
      label.textContent = row;
      line.append(label);
      for (const seat of seats) {
        const cell = document.createElement("span");
        cell.setAttribute("role", "gridcell");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "seat";
        button.dataset.seat = seat.id;
        button.textContent = seat.number;
        button.tabIndex = first ? 0 : -1;
        first = false;
        button.addEventListener("click", () => this.onPick(seat.id));
        this.buttons.set(seat.id, button);
        cell.append(button);
        line.append(cell);
      }
      grid.append(line);
    }
    grid.addEventListener("keydown", (event) => move(event, grid));
    wrapper.append(heading, grid);
    return wrapper;
  }
}

/** Section → row → seats, in the order the map lists them. */
function grouped(seats) {
  const sections = new Map();
  for (const seat of seats) {
    if (!sections.has(seat.section)) sections.set(seat.section, new Map());
    const rows = sections.get(seat.section);
    if (!rows.has(seat.row)) rows.set(seat.row, []);
    rows.get(seat.row).push(seat);
  }
  return sections;
}

/** Arrow-key movement inside one section's grid (a roving tabindex). */
function move(event, grid) {
  const current = event.target.closest("button.seat");
  if (!current) return;
  const rows = [...grid.querySelectorAll(".seat-row")].map((row) => [...row.querySelectorAll("button.seat")]);
  const r = rows.findIndex((row) => row.includes(current));
  const c = rows[r].indexOf(current);
  const at = (row, col) => rows[row]?.[Math.min(col, rows[row].length - 1)];
  const target = {
    ArrowRight: at(r, c + 1),
    ArrowLeft: at(r, Math.max(0, c - 1)),
    ArrowDown: at(Math.min(rows.length - 1, r + 1), c),
    ArrowUp: at(Math.max(0, r - 1), c),
    Home: rows[r][0],
    End: rows[r][rows[r].length - 1],
  }[event.key];
  if (!target) return;
  event.preventDefault();
  current.tabIndex = -1;
  target.tabIndex = 0;
  target.focus();
}
